import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a as m,b as s,c as l}from"./chunk-P65QYJPP.mjs";import"./chunk-XMQ2GOKS.mjs";import{a,b as i}from"./chunk-WQUO636W.mjs";import{l as u}from"./chunk-4DUGP5RY.mjs";import"./chunk-5U2RFAIP.mjs";import"./chunk-YY3OUP6P.mjs";import"./chunk-7S6RFVAM.mjs";import"./chunk-FWRC26AD.mjs";var k=m({usage:`Usage: anew cleanup --environment NAME [--keep N | --all] [options]

Retires releases beyond the newest N warm ones (never the live one), or with --all the whole environment and its route.
${l}
  --docker-host URL --router-url URL`,settings:["keep","docker-host","network","router-url"],booleans:["all"],async run({app:p,environment:d,settings:e,flags:r},v){let n=u(e,v),o={app:p,environment:d,dryRun:r["dry-run"]==="true"},w=r.all==="true"?(await i(n,o)).removed:await a(n,{...o,keep:e.keep});return s({removed:w.map(t=>`${t.name}@${t.engine}`).join(",")}),0}});export{k as default};
