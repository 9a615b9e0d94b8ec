import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a as s,b as n,c as i}from"./chunk-P65QYJPP.mjs";import"./chunk-XMQ2GOKS.mjs";import{a}from"./chunk-OX4LWZZ6.mjs";import{l as o}from"./chunk-4DUGP5RY.mjs";import"./chunk-5U2RFAIP.mjs";import"./chunk-YY3OUP6P.mjs";import"./chunk-7S6RFVAM.mjs";import"./chunk-FWRC26AD.mjs";var d=s({usage:`Usage: anew flip --environment NAME --target TARGET [options]

Moves the environment's traffic to a healthy target (the "target" of deploy, a release id or a digest).
${i}
  --docker-host URL --router-url URL --listen :8080 --hosts a.example,b.example
  --strategy blue-green|canary --steps 10,50,100 --interval 30s --max-error-rate 0.01`,settings:["docker-host","network","router-url","hosts","listen","strategy","steps","interval","max-error-rate"],values:["target"],async run({app:l,environment:u,settings:e,flags:r},p){let t=await a(o(e,p),{app:l,environment:u,to:r.target??"",settings:e,dryRun:r["dry-run"]==="true"});return n({release:t.release,"previous-target":t.previousTarget}),0}});export{d as default};
