"""Seeds a running backend for the fuzzer and writes what schemathesis needs.

Signs up alice and bob, gives each a project with a conversation, and gives
alice an agent with a task, a message and a conflict, so the fuzzer reaches
the routes behind those ids instead of stopping at 404. Writes, into the
directory it is given:

- people.json: a Web Fuzzing Commons auth document that signs in as each;
- seed.env: the ids and a consistency token, as shell assignments that
  tests/fuzz/schemathesis.toml reads from the environment.

Usage: python3 seed.py BASE_URL RUN_ID PASSWORD OUT_DIR
"""

import json
import sys
import urllib.request


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(request, data, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else {}


def email_of(name, run):
    return f"{name}.{run}@fuzz.example.com"


def sign_up(base, name, run, password):
    email = email_of(name, run)
    call(base, "POST", "/api/v1/auth/register", {"email": email, "password": password, "display_name": name})
    signed_in = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    return signed_in["access_token"], signed_in["user_id"]


def login_entry(name, run, password):
    return {
        "name": name,
        "loginEndpointAuth": {
            "verb": "POST",
            "endpoint": "/api/v1/auth/login",
            "contentType": "application/json",
            "payloadRaw": json.dumps({"email": email_of(name, run), "password": password}),
            "token": {
                "extractFrom": "body",
                "extractSelector": "/access_token",
                "sendIn": "header",
                "sendName": "Authorization",
                "sendTemplate": "Bearer {token}",
            },
        },
    }


def main():
    base, run, password, out = sys.argv[1:5]
    seeded = {}
    for name in ("alice", "bob"):
        token, user = sign_up(base, name, run, password)
        project = call(base, "POST", "/api/v1/projects", {"name": f"{name}'s project", "budget_usd": "100.00"}, token)
        conversation = call(
            base, "POST", "/api/v1/conversations", {"project_id": project["id"], "title": f"{name}'s conversation"}, token
        )
        seeded[name] = (token, project["id"], conversation["id"], user)

    token, project, conversation, _ = seeded["alice"]
    message = call(base, "POST", f"/api/v1/conversations/{conversation}/messages", {"content": "hello"}, token)
    agent = call(
        base,
        "POST",
        "/api/v1/agents",
        {"project_id": project, "name": "builder", "kind": "developer", "model": "claude-sonnet"},
        token,
    )
    task = call(base, "POST", f"/api/v1/agents/{agent['id']}/tasks", {"title": "build it"}, token)
    conflict = call(
        base,
        "POST",
        "/api/v1/conflicts",
        {"project_id": project, "kind": "design", "description": "two designs", "agent_ids": [agent["id"]]},
        token,
    )

    with open(f"{out}/people.json", "w") as people:
        json.dump({"auth": [login_entry(name, run, password) for name in ("alice", "bob")]}, people)
    values = {
        "FUZZ_PROJECT": project,
        "FUZZ_CONVERSATION": conversation,
        "FUZZ_MESSAGE": message["id"],
        "FUZZ_AGENT": agent["id"],
        "FUZZ_TASK": task["task_id"],
        "FUZZ_CONFLICT": conflict["id"],
        "FUZZ_CONSISTENCY_TOKEN": conflict["consistency_token"],
        "FUZZ_BOB": seeded["bob"][3],
    }
    with open(f"{out}/seed.env", "w") as env:
        env.writelines(f"export {key}={value}\n" for key, value in values.items())


if __name__ == "__main__":
    main()
