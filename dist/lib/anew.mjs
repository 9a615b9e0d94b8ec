import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a as d}from"./chunk-3TZJMKZD.mjs";import{e as c}from"./chunk-DI2D6KL2.mjs";import"./chunk-F7LTISW6.mjs";import{b as m,c as p}from"./chunk-7S6RFVAM.mjs";import"./chunk-3DK2FSFK.mjs";import{a as t}from"./chunk-FWRC26AD.mjs";var f={ship:t(()=>import("./main-RY45RTP7.mjs"),"ship"),build:t(()=>import("./main-4ULYM2A6.mjs"),"build"),attest:t(()=>import("./main-JR5SUKLL.mjs"),"attest"),verify:t(()=>import("./main-IOMCIHHL.mjs"),"verify"),deploy:t(()=>import("./main-UQ3PONJC.mjs"),"deploy"),flip:t(()=>import("./main-KHQME7EG.mjs"),"flip"),rollback:t(()=>import("./main-46WOUBKA.mjs"),"rollback"),promote:t(()=>import("./main-CIFKCZBE.mjs"),"promote"),cleanup:t(()=>import("./main-IFIKSA6I.mjs"),"cleanup")};async function u(r){let o=f[r];if(!o)throw new Error(`unknown action ${r}`);let e=(await o()).default;await c(e)}t(u,"run");async function a(r,o){let{actionCommand:e}=await import("./action-AI523TMU.mjs");return{default:e(r,o)}}t(a,"viaAction");var l=`anew \u2014 immutable deployments from a terminal or any CI

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

Run "anew <command> --help" for its options.`,g={build:t(()=>a("build",()=>import("./main-4ULYM2A6.mjs")),"build"),attest:t(()=>a("attest",()=>import("./main-JR5SUKLL.mjs")),"attest"),verify:t(()=>a("verify",()=>import("./main-IOMCIHHL.mjs")),"verify"),deploy:t(()=>import("./deploy-ZS77ZT3S.mjs"),"deploy"),flip:t(()=>import("./flip-5374KG25.mjs"),"flip"),rollback:t(()=>import("./rollback-E4E6QR6L.mjs"),"rollback"),status:t(()=>import("./status-CHEQPUUC.mjs"),"status"),cleanup:t(()=>import("./cleanup-5ALUX5XJ.mjs"),"cleanup")};async function w(r){let[o,...e]=r;if(!o||o==="--help"||o==="-h"||o==="help")return process.stdout.write(`${l}
`),o?0:2;let s=g[o];if(!s)return process.stderr.write(`anew: unknown command "${o}"

${l}
`),2;let i=new d;try{return await(await s()).default(e,i)}catch(n){return i.error(`anew ${o}: ${p(n)}`),!m(n)&&n instanceof Error&&n.stack&&i.debug(n.stack),1}}t(w,"cli");export{w as cli,u as run};
