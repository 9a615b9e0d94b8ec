import{createRequire as __anewCR}from"node:module";import{fileURLToPath as __anewFP}from"node:url";import{dirname as __anewDN}from"node:path";const require=__anewCR(import.meta.url);const __filename=__anewFP(import.meta.url);const __dirname=__anewDN(__filename);
import{a as m}from"./chunk-XMQ2GOKS.mjs";import{c as p,f as g}from"./chunk-5U2RFAIP.mjs";import{a}from"./chunk-7S6RFVAM.mjs";import{a as s}from"./chunk-FWRC26AD.mjs";function y(n){return async(e,r)=>{if(e.includes("--help")||e.includes("-h"))return process.stdout.write(`${n.usage}
`),0;let t=m(e,{values:["environment","app","config",...n.settings,...n.values??[]],booleans:["dry-run",...n.booleans??[]]}),o=t.environment;if(!o)throw new a("--environment is required",n.usage.split(`
`)[0]);let{app:l,settings:u}=g({configFile:t.config??"anew.yml",environment:o,app:t.app,repository:process.env.GITHUB_REPOSITORY,overrides:p(n.settings,i=>t[i],i=>`option --${i}`)});return n.run({app:l,environment:o,settings:u,flags:t},r)}}s(y,"environmentCommand");function f(n){for(let[e,r]of Object.entries(n))r!==void 0&&process.stdout.write(`${e}=${r}
`)}s(f,"printOutputs");var h=`  --environment NAME      environment (required)
  --app NAME              app name (default: anew.yml "app", else the repository name)
  --config FILE           anew.yml path (default: anew.yml); its values are defaults, options override them
  --dry-run               print the plan and change nothing`;export{y as a,f as b,h as c};
