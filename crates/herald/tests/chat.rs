//! `herald chat` end to end against the scripted LLM.

mod common;

use common::Herald;
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ScriptedToolCall};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_then_an_answer() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::ToolCalls(vec![ScriptedToolCall { name: "clock".into(), arguments: json!({"timezone": "UTC"}) }]));
    llm.push(Reply::Text("It is noon in UTC.".into()));
    let h = Herald::openai(&llm);

    let run = h.run(&["chat", "-q", "What time is it?"]).await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "It is noon in UTC.\n", "only the answer is printed");

    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    let tools: Vec<&str> =
        requests[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(tools.contains(&"clock") && tools.contains(&"memory") && tools.contains(&"session_search"), "{tools:?}");
    let second = requests[1].body["messages"].as_array().unwrap();
    let tool_msg = second.iter().find(|m| m["role"] == "tool").expect("the tool result went back to the model");
    let clock: serde_json::Value = serde_json::from_str(tool_msg["content"].as_str().unwrap()).unwrap();
    assert!(clock["iso8601"].as_str().unwrap().ends_with("+00:00"), "{clock}");
    assert_eq!(requests[0].body["model"], "test-model");

    let id = h.latest_session_id().await;
    let show = h.run(&["sessions", "show", &id]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("What time is it?"));
    assert!(show.stdout.contains("→ clock("), "{}", show.stdout);
    assert!(show.stdout.contains("tool clock:"));
    assert!(show.stdout.contains("It is noon in UTC."));
    assert!(show.stdout.contains("4 messages, 1 tool calls"), "{}", show.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_kept_across_invocations() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::Text("Nice to meet you, Ada.".into()));
    llm.push(Reply::Text("Your name is Ada.".into()));
    let h = Herald::openai(&llm);

    assert_eq!(h.run(&["chat", "-q", "My name is Ada."]).await.code, 0);
    let second = h.run(&["chat", "--continue", "-q", "What is my name?"]).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout, "Your name is Ada.\n");

    let msgs = llm.requests()[1].body["messages"].clone();
    let texts: Vec<(String, String)> = msgs
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        texts,
        vec![
            ("user".to_string(), "My name is Ada.".to_string()),
            ("assistant".to_string(), "Nice to meet you, Ada.".to_string()),
            ("user".to_string(), "What is my name?".to_string()),
        ]
    );

    // Without --continue a new conversation starts with no history.
    llm.push(Reply::Text("Hello.".into()));
    assert_eq!(h.run(&["chat", "-q", "Hi"]).await.code, 0);
    let fresh = llm.requests()[2].body["messages"].as_array().unwrap().iter().filter(|m| m["role"] != "system").count();
    assert_eq!(fresh, 1);
    let list = h.run(&["sessions", "list"]).await;
    assert_eq!(list.stdout.lines().count(), 3, "a header and two sessions:\n{}", list.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_words_and_substrings_from_earlier_sessions() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::Text("Wellington is windy in spring.".into()));
    let h = Herald::openai(&llm);
    assert_eq!(h.run(&["chat", "-q", "Tell me about my trip to Wellington"]).await.code, 0);

    let word = h.run(&["sessions", "search", "windy"]).await;
    assert_eq!(word.code, 0, "{}", word.stderr);
    assert!(word.stdout.contains("assistant") && word.stdout.contains("windy"), "{}", word.stdout);

    let sub = h.run(&["sessions", "search", "ellingt", "--mode", "substring"]).await;
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    assert_eq!(sub.stdout.lines().count(), 2, "user and assistant messages both contain it:\n{}", sub.stdout);

    let none = h.run(&["sessions", "search", "zebra"]).await;
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("No messages match"));

    // The agent's own tool searches the same index from a new session.
    llm.push(Reply::ToolCalls(vec![ScriptedToolCall {
        name: "session_search".into(),
        arguments: json!({"query": "Wellington"}),
    }]));
    llm.push(Reply::Text("You asked about Wellington before.".into()));
    assert_eq!(h.run(&["chat", "-q", "What trip did I mention?"]).await.code, 0);
    let last = llm.requests().last().unwrap().body["messages"].clone();
    let result =
        last.as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap()["content"].as_str().unwrap().to_string();
    assert!(result.contains("Wellington") && result.contains("\"results\""), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_provider_is_retried() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::Error { status: 429, body: serde_json::Value::Null, retry_after: Some(1) });
    llm.push(Reply::Text("Made it.".into()));
    let h = Herald::openai(&llm);
    let run = h.run(&["chat", "-q", "hello"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Made it.\n");
    assert_eq!(llm.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_stream_is_an_error_and_the_transcript_survives() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::Text("First answer.".into()));
    let h = Herald::openai(&llm);
    assert_eq!(h.run(&["chat", "-q", "first question"]).await.code, 0);

    llm.push(Reply::MalformedJson);
    let bad = h.run(&["chat", "-c", "-q", "second question"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cannot read"), "{}", bad.stderr);
    assert!(bad.stderr.contains("conversation is saved"), "{}", bad.stderr);

    llm.push(Reply::Text("Third answer.".into()));
    let good = h.run(&["chat", "-c", "-q", "third question"]).await;
    assert_eq!(good.code, 0, "{}", good.stderr);

    let id = h.latest_session_id().await;
    let show = h.run(&["sessions", "show", &id]).await.stdout;
    for text in ["first question", "First answer.", "second question", "third question", "Third answer."] {
        assert!(show.contains(text), "missing {text:?} in\n{show}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_midway_is_reported() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::CutStream { text_before: "Half an ans".into() });
    let h = Herald::openai(&llm);
    let run = h.run(&["chat", "-q", "go"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("Half an ans"), "{}", run.stdout);
    assert!(run.stderr.contains("ended before the answer was complete"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_wire_with_prompt_caching_and_persona() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::Text("Ahoy.".into()));
    let h = Herald::anthropic(&llm);
    std::fs::write(h.path().join("SOUL.md"), "You are a pirate.").unwrap();
    std::fs::write(h.path().join("USER.md"), "The user is called Ada.").unwrap();
    let run = h.run(&["chat", "-q", "hello"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Ahoy.\n");
    let req = &llm.requests()[0];
    let system = req.body["system"].as_array().expect("system blocks");
    assert!(system[0]["text"].as_str().unwrap().starts_with("You are a pirate."));
    assert!(system[0]["text"].as_str().unwrap().contains("The user is called Ada."));
    assert_eq!(system[0]["cache_control"]["type"], "ephemeral", "the stable prefix is marked for caching");
    assert!(system[1].get("cache_control").is_none(), "the volatile session context is not cached");
    assert!(system[1]["text"].as_str().unwrap().contains("Platform: local terminal"));
    assert_eq!(req.body["model"], "claude-test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repl_reads_lines_and_new_starts_a_fresh_session() {
    let llm = ScriptedLlm::start().await;
    let h = Herald::openai(&llm);
    let run = h.run_with_stdin(&["chat"], Some("hello there\n/new\nsecond chat\n/exit\n")).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "echo: hello there\necho: second chat\n");
    assert!(run.stderr.contains("new conversation"));
    let list = h.run(&["sessions", "list"]).await;
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
}
