"""Drives a running herald with the official `openai` Python client.

Environment: HERALD_BASE_URL (http://127.0.0.1:PORT/v1), HERALD_KEY, HERALD_MODEL_ID.
The gateway's model is the testkit's scripted LLM, which echoes: "echo: <message>".
Prints one line per check and exits 1 if any failed.
"""

import os
import sys

import openai

base = os.environ["HERALD_BASE_URL"]
key = os.environ["HERALD_KEY"]
model = os.environ.get("HERALD_MODEL_ID", "hermes-agent")
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


ids = [m.id for m in client.models.list().data]
check("models.list includes the advertised model", model in ids, ids)

chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "python says hi"}])
check("chat.completions", chat.choices[0].message.content == "echo: python says hi", chat)
check("chat.completions finish_reason", chat.choices[0].finish_reason == "stop", chat.choices[0].finish_reason)
check("chat.completions usage", chat.usage is not None and chat.usage.total_tokens > 0, chat.usage)

parts, finish = [], None
for chunk in client.chat.completions.create(
    model=model,
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "python streams"}],
    stream=True,
):
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
check("chat.completions stream", "".join(parts) == "echo: python streams", "".join(parts))
check("chat.completions stream finish_reason", finish == "stop", finish)

first = client.responses.create(model=model, input="responses hello")
check("responses.create", first.output_text == "echo: responses hello", first.output_text)
second = client.responses.create(model=model, input="and again", previous_response_id=first.id)
check("responses previous_response_id", second.output_text == "echo: and again", second.output_text)
check("responses.retrieve", client.responses.retrieve(first.id).id == first.id)

deltas = []
for event in client.responses.create(model=model, input="responses stream", stream=True):
    if event.type == "response.output_text.delta":
        deltas.append(event.delta)
check("responses stream", "".join(deltas) == "echo: responses stream", "".join(deltas))

try:
    openai.OpenAI(base_url=base, api_key="wrong-key-0123456789", max_retries=0).models.list()
    check("wrong key raises AuthenticationError", False, "no error")
except openai.AuthenticationError as e:
    check("wrong key raises AuthenticationError", e.status_code == 401, e)

try:
    client.chat.completions.create(model=model, messages=[])
    check("empty messages raises BadRequestError", False, "no error")
except openai.BadRequestError as e:
    check("empty messages raises BadRequestError", e.status_code == 400, e)

try:
    client.responses.create(model=model, input="x", previous_response_id="resp_doesnotexist")
    check("unknown previous_response_id raises NotFoundError", False, "no error")
except openai.NotFoundError as e:
    check("unknown previous_response_id raises NotFoundError", e.status_code == 404, e)

sys.exit(1 if failures else 0)
