import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{l as c}from"./chunk-T2GCW5GF.mjs";import{a as d}from"./chunk-3TZJMKZD.mjs";import{b as m,c as p}from"./chunk-7S6RFVAM.mjs";import"./chunk-3DK2FSFK.mjs";import{a as t}from"./chunk-FWRC26AD.mjs";var f={ship:t(()=>import("./main-HTNXCOJM.mjs"),"ship"),build:t(()=>import("./main-S347NHO3.mjs"),"build"),attest:t(()=>import("./main-DOVVCHEY.mjs"),"attest"),verify:t(()=>import("./main-HVOV75WM.mjs"),"verify"),deploy:t(()=>import("./main-MFHD3XZU.mjs"),"deploy"),flip:t(()=>import("./main-XXIZORYH.mjs"),"flip"),rollback:t(()=>import("./main-3CTG2I3F.mjs"),"rollback"),promote:t(()=>import("./main-FWL4CG4B.mjs"),"promote"),cleanup:t(()=>import("./main-YSI45QZ5.mjs"),"cleanup")};async function u(e){let o=f[e];if(!o)throw new Error(`unknown action ${e}`);let i=(await o()).default;await c(i)}t(u,"run");async function r(e,o){let{actionCommand:i}=await import("./action-NBEQ6X63.mjs");return{default:i(e,o)}}t(r,"viaAction");var l=`anew \u2014 immutable deployments from a terminal or any CI

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
  ship       build, attest, deploy and flip in one step

Run "anew <command> --help" for its options.`,g={build:t(()=>r("build",()=>import("./main-S347NHO3.mjs")),"build"),attest:t(()=>r("attest",()=>import("./main-DOVVCHEY.mjs")),"attest"),verify:t(()=>r("verify",()=>import("./main-HVOV75WM.mjs")),"verify"),deploy:t(()=>r("deploy",()=>import("./main-MFHD3XZU.mjs")),"deploy"),flip:t(()=>r("flip",()=>import("./main-XXIZORYH.mjs")),"flip"),rollback:t(()=>r("rollback",()=>import("./main-3CTG2I3F.mjs")),"rollback"),cleanup:t(()=>r("cleanup",()=>import("./main-YSI45QZ5.mjs")),"cleanup"),ship:t(()=>r("ship",()=>import("./main-HTNXCOJM.mjs")),"ship"),status:t(()=>import("./status-2PARLNTD.mjs"),"status")};async function y(e){let[o,...i]=e;if(!o||o==="--help"||o==="-h"||o==="help")return process.stdout.write(`${l}
`),o?0:2;let s=g[o];if(!s)return process.stderr.write(`anew: unknown command "${o}"

${l}
`),2;let a=new d;try{return await(await s()).default(i,a)}catch(n){return a.error(`anew ${o}: ${p(n)}`),!m(n)&&n instanceof Error&&n.stack&&a.debug(n.stack),1}}t(y,"cli");export{y as cli,u as run};
