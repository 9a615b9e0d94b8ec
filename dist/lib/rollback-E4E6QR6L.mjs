import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a}from"./chunk-XHOVK3MK.mjs";import{a as n,b as s,c as l}from"./chunk-P65QYJPP.mjs";import"./chunk-XMQ2GOKS.mjs";import"./chunk-OX4LWZZ6.mjs";import{l as o}from"./chunk-4DUGP5RY.mjs";import"./chunk-5U2RFAIP.mjs";import"./chunk-YY3OUP6P.mjs";import"./chunk-7S6RFVAM.mjs";import"./chunk-FWRC26AD.mjs";var d=n({usage:`Usage: anew rollback --environment NAME [--to RELEASE|DIGEST] [options]

Moves traffic back to the previous release (or --to), still warm: a router change only.
${l}
  --docker-host URL --router-url URL --listen :8080 --hosts a.example`,settings:["docker-host","network","router-url","hosts","listen"],values:["to"],async run({app:u,environment:i,settings:r,flags:e},m){let t=await a(o(r,m),{app:u,environment:i,to:e.to,settings:r,dryRun:e["dry-run"]==="true"});return s({release:t.release,target:t.target}),0}});export{d as default};
