// A small OpenAPI reader (the app serves everything itself: no CDN-hosted Swagger UI).
import { clear, h } from "./dom.js";

function refName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `${refName(schema.items)}[]`;
  if (schema.anyOf) return schema.anyOf.map(refName).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  return schema.type || "object";
}

function endpoint(path, method, op) {
  const params = (op.parameters || []).map((p) =>
    h("tr", {}, h("td", { text: p.name }), h("td", { text: p.in }), h("td", { text: refName(p.schema) }), h("td", { text: p.description || "" })),
  );
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const schema = r.content && Object.values(r.content)[0]?.schema;
    return h("li", {}, h("b", { text: code }), ` ${r.description || ""} `, schema ? h("span", { class: "schema", text: refName(schema) }) : null);
  });
  return h(
    "article",
    { class: "endpoint" },
    h("h3", {}, h("span", { class: `method ${method}`, text: method.toUpperCase() }), path),
    h("p", { text: op.description || op.summary || "" }),
    params.length ? h("table", { class: "table compact" }, h("tbody", {}, params)) : null,
    body ? h("p", {}, "Body: ", h("span", { class: "schema", text: refName(body) })) : null,
    h("ul", {}, responses),
  );
}

function schemaTable(name, schema) {
  const rows = Object.entries(schema.properties || {}).map(([field, s]) =>
    h("tr", {}, h("td", { class: "schema", text: field }), h("td", { class: "schema", text: refName(s) }), h("td", { text: s.description || "" })),
  );
  return h("section", { class: "panel", id: `schema-${name}` }, h("h2", { text: name }), h("p", { class: "small", text: schema.description || "" }), h("table", { class: "table compact" }, h("tbody", {}, rows)));
}

async function start() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = clear(document.getElementById("api"));
  root.append(h("section", { class: "api-intro panel" }, h("h2", { text: `${spec.info.title} · v${spec.info.version}` }), h("p", { text: spec.info.description || "" })));
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) root.append(endpoint(path, method, op));
  }
  for (const [name, schema] of Object.entries(spec.components?.schemas || {})) root.append(schemaTable(name, schema));
}

start();
