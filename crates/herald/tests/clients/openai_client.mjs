// Drives a running herald with the official `openai` npm client.
// Environment: HERALD_BASE_URL (http://127.0.0.1:PORT/v1), HERALD_KEY, HERALD_MODEL_ID.
// The gateway's model is the testkit's scripted LLM, which echoes: "echo: <message>".
// Prints one line per check and exits 1 if any failed.
import OpenAI from "openai";

const base = process.env.HERALD_BASE_URL;
const model = process.env.HERALD_MODEL_ID ?? "hermes-agent";
const client = new OpenAI({ baseURL: base, apiKey: process.env.HERALD_KEY, maxRetries: 0 });
const failures = [];
const check = (name, ok, detail = "") => {
  console.log((ok ? "ok   " : "FAIL ") + name + (ok ? "" : `: ${JSON.stringify(detail)}`));
  if (!ok) failures.push(name);
};

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
check("models.list includes the advertised model", ids.includes(model), ids);

const chat = await client.chat.completions.create({ model, messages: [{ role: "user", content: "node says hi" }] });
check("chat.completions", chat.choices[0].message.content === "echo: node says hi", chat);
check("chat.completions finish_reason", chat.choices[0].finish_reason === "stop", chat.choices[0].finish_reason);
check("chat.completions usage", (chat.usage?.total_tokens ?? 0) > 0, chat.usage);

let text = "";
let finish = null;
const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: "node streams" }], stream: true });
for await (const chunk of stream) {
  if (chunk.choices.length) {
    text += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
}
check("chat.completions stream", text === "echo: node streams", text);
check("chat.completions stream finish_reason", finish === "stop", finish);

const first = await client.responses.create({ model, input: "responses hello" });
check("responses.create", first.output_text === "echo: responses hello", first.output_text);
const second = await client.responses.create({ model, input: "and again", previous_response_id: first.id });
check("responses previous_response_id", second.output_text === "echo: and again", second.output_text);
const got = await client.responses.retrieve(first.id);
check("responses.retrieve", got.id === first.id, got.id);

let deltas = "";
const rstream = await client.responses.create({ model, input: "responses stream", stream: true });
for await (const event of rstream) {
  if (event.type === "response.output_text.delta") deltas += event.delta;
}
check("responses stream", deltas === "echo: responses stream", deltas);

try {
  await new OpenAI({ baseURL: base, apiKey: "wrong-key-0123456789", maxRetries: 0 }).models.list();
  check("wrong key raises AuthenticationError", false, "no error");
} catch (e) {
  check("wrong key raises AuthenticationError", e instanceof OpenAI.AuthenticationError && e.status === 401, String(e));
}
try {
  await client.chat.completions.create({ model, messages: [] });
  check("empty messages raises BadRequestError", false, "no error");
} catch (e) {
  check("empty messages raises BadRequestError", e instanceof OpenAI.BadRequestError && e.status === 400, String(e));
}
try {
  await client.responses.create({ model, input: "x", previous_response_id: "resp_doesnotexist" });
  check("unknown previous_response_id raises NotFoundError", false, "no error");
} catch (e) {
  check("unknown previous_response_id raises NotFoundError", e instanceof OpenAI.NotFoundError && e.status === 404, String(e));
}

process.exit(failures.length ? 1 : 0);
