#!/usr/bin/env node
const __anew_import_meta_url=require("url").pathToFileURL(__filename).href;
"use strict";var m=Object.defineProperty;var s=(e,r)=>m(e,"name",{value:r,configurable:!0});var o=class{constructor(r=n=>process.stderr.write(`${n}
`),t=!!process.env.ANEW_DEBUG){this.write=r;this.verbose=t}write;verbose;static{s(this,"ConsoleLogger")}secrets=new Set;mask(r){let t=r;for(let n of this.secrets)t=t.split(n).join("***");return t}debug(r){this.verbose&&this.write(this.mask(`debug: ${r}`))}info(r){this.write(this.mask(r))}warning(r){this.write(this.mask(`warning: ${r}`))}error(r){this.write(this.mask(`error: ${r}`))}async group(r,t){return this.write(this.mask(`\u25B8 ${r}`)),t()}setSecret(r){r&&r.length>=4&&this.secrets.add(r)}};function g(e){return e instanceof Error&&e.name==="UserError"}s(g,"isUserError");function d(e){return e instanceof Error?e.message:String(e)}s(d,"errorMessage");var c=`anew \u2014 immutable deployments from a terminal or any CI

Usage: anew <command> [options]

Commands:
  build      build a content-addressed image and push it
  attest     sign SLSA provenance for an image digest and attach it
  verify     check an image's provenance against a policy
  deploy     start a new target from an image digest
  flip       move an environment's traffic to a target
  rollback   move traffic back to the previous target
  status     list each environment's live release, warm targets and drift
  promote    copy an image with its provenance to another repository
  cleanup    retire old targets and previews

Run "anew <command> --help" for its options.`,p={};async function u(e){let[r,...t]=e;if(!r||r==="--help"||r==="-h"||r==="help")return process.stdout.write(`${c}
`),r?0:2;let n=p[r];if(!n)return process.stderr.write(`anew: unknown command "${r}"

${c}
`),2;let a=new o;try{return await(await n()).default(t,a)}catch(i){return a.error(`anew ${r}: ${d(i)}`),!g(i)&&i instanceof Error&&i.stack&&a.debug(i.stack),1}}s(u,"main");u(process.argv.slice(2)).then(e=>{process.exitCode=e});
