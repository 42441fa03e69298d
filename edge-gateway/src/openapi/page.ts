// The API reference page served at `/docs`: one self-contained HTML file (no build step, no
// third-party script) that reads `/openapi.json` and lists every operation with its
// parameters, body schema, example and answers.
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NCN gateway API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d232a; background: #fafbfc; }
  header { padding: 1.2rem 2rem; background: #1d232a; color: #fff; }
  header p { margin: .3rem 0 0; color: #c8d0d8; max-width: 60rem; }
  main { padding: 1rem 2rem 3rem; max-width: 70rem; }
  nav a { margin-right: 1rem; }
  h2 { margin-top: 2rem; text-transform: capitalize; border-bottom: 1px solid #d8dee4; }
  details { background: #fff; border: 1px solid #d8dee4; border-radius: 6px; margin: .5rem 0; }
  summary { cursor: pointer; padding: .5rem .8rem; }
  .m { display: inline-block; width: 4.2rem; font: 600 12px monospace; text-transform: uppercase; }
  .get { color: #0969da; } .post { color: #1a7f37; } .delete { color: #cf222e; }
  code, pre { font: 13px/1.4 ui-monospace, monospace; }
  .body { padding: 0 1rem 1rem; }
  pre { background: #f3f5f7; padding: .6rem; overflow: auto; border-radius: 4px; }
  table { border-collapse: collapse; } td, th { text-align: left; padding: .2rem .8rem .2rem 0; vertical-align: top; }
</style>
</head>
<body>
<header><h1 id="title">NCN gateway API</h1><p id="about"></p></header>
<main><nav id="nav"></nav><div id="ops">Loading /openapi.json…</div></main>
<script type="module">
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const pre = (value) => el("pre", {}, JSON.stringify(value, null, 2));
const doc = await (await fetch("openapi.json")).json();
document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
document.getElementById("about").textContent = doc.info.description;
const ops = document.getElementById("ops");
ops.textContent = "";
const nav = document.getElementById("nav");
for (const tag of doc.tags) {
  const section = el("section", { id: tag.name }, el("h2", {}, tag.name + ": " + tag.description));
  nav.append(el("a", { href: "#" + tag.name }, tag.name));
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!op.tags.includes(tag.name)) continue;
      const body = el("div", { class: "body" });
      if (op.description) body.append(el("p", {}, op.description));
      if (op.parameters) {
        const t = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "schema")));
        for (const p of op.parameters)
          t.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? "" : "?"))), el("td", {}, p.in), el("td", {}, el("code", {}, JSON.stringify(p.schema)))));
        body.append(t);
      }
      for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) {
        body.append(el("h4", {}, "Body (" + type + ")"), pre(c.schema));
        if (c.example !== undefined) body.append(el("h4", {}, "Example"), pre(c.example));
      }
      for (const [status, r] of Object.entries(op.responses)) {
        body.append(el("h4", {}, (status === "default" ? "Errors" : status) + ": " + r.description));
        for (const c of Object.values(r.content ?? {})) if (c.schema) body.append(pre(c.schema));
      }
      section.append(el("details", { id: op.operationId }, el("summary", {}, el("span", { class: "m " + method }, method), el("code", {}, path), " " + op.summary), body));
    }
  }
  ops.append(section);
}
const schemas = el("section", { id: "schemas" }, el("h2", {}, "schemas"));
nav.append(el("a", { href: "#schemas" }, "schemas"));
for (const [name, s] of Object.entries(doc.components.schemas))
  schemas.append(el("details", { id: "schema-" + name }, el("summary", {}, el("code", {}, name)), el("div", { class: "body" }, pre(s))));
ops.append(schemas);
</script>
</body>
</html>
`;
