import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a as y}from"./chunk-XMQ2GOKS.mjs";import{a as T}from"./chunk-SFCZNP6K.mjs";import{d as g,f as $}from"./chunk-RGSH7YI4.mjs";import"./chunk-F7LTISW6.mjs";import"./chunk-7S6RFVAM.mjs";import"./chunk-3DK2FSFK.mjs";import{a as c,f as O}from"./chunk-FWRC26AD.mjs";import f from"node:fs";import j from"node:os";import s from"node:path";import{fileURLToPath as U}from"node:url";var b=O(T(),1);function h(e){for(let[o,t]of Object.entries(e))t!==void 0&&process.stdout.write(`${o}=${t.split(`
`).join(",")}
`)}c(h,"printOutputs");function C(e){let o=e==="ship"?"action.yml":s.join("actions",e,"action.yml");for(let t=s.dirname(U(import.meta.url));;t=s.dirname(t)){let r=s.join(t,o);if(f.existsSync(r))return(0,b.parse)(f.readFileSync(r,"utf8"));if(s.dirname(t)===t)throw new Error(`${o} not found above the anew CLI`)}}c(C,"actionYml");function A(e,o){let t=Object.entries(o.inputs).map(([r,i])=>{let p=i.default!==void 0&&!i.default.includes("${{")?` (default: ${i.default})`:"";return`  --${r}${i.required?" (required)":""}
      ${i.description}${p}`});return`Usage: anew ${e} [options]

${o.description}
The options are the inputs of the ${e} action; repeat an option for multi-line inputs.

${t.join(`
`)}`}c(A,"usage");function L(e,o){return async(t,r)=>{let i=C(e);if(t.includes("--help")||t.includes("-h"))return process.stdout.write(`${A(e,i)}
`),0;let p=Object.keys(i.inputs),l=p.filter(n=>["true","false"].includes(i.inputs[n].default??"")),w=y(t,{values:p.filter(n=>!l.includes(n)),booleans:l});for(let[n,a]of Object.entries(i.inputs)){let u=w[n]??a.default??"";u.includes("${{")&&(u=n==="github-token"?process.env.GITHUB_TOKEN??"":""),process.env[`INPUT_${n.toUpperCase()}`]=u}g.maskSecretsWith(n=>r.setSecret(n));let m=f.mkdtempSync(s.join(j.tmpdir(),`anew-${e}-`));process.env.GITHUB_OUTPUT=s.join(m,"output"),process.env.RUNNER_TEMP||=j.tmpdir();try{let n=(await o()).default,a=await $(n,r);return h(Object.fromEntries(Object.entries(a).map(([u,d])=>[u,d===void 0?d:String(d)]))),0}finally{f.rmSync(m,{recursive:!0,force:!0})}}}c(L,"actionCommand");export{L as actionCommand};
