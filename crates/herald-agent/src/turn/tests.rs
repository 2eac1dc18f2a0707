use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::Role;
use serde_json::json;

use super::*;
use crate::provider::{Completion, ThinkingBlock, ThinkingReplay, ToolSpec};
use crate::tools::{Tool, ToolError};

enum Step {
    Answer(Completion),
    Fail(ProviderError),
    /// Streams this text, then never finishes.
    Hang(String),
}

struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Scripted { steps: Mutex::new(steps.into()), requests: Mutex::new(Vec::new()) })
    }
}

fn text(t: &str) -> Step {
    Step::Answer(Completion {
        content: t.into(),
        reasoning: None,
        tool_calls: vec![],
        usage: Usage { input_tokens: 10, output_tokens: 2, ..Default::default() },
        finish_reason: FinishReason::Stop,
        model: None,
        thinking: vec![],
    })
}

fn calls(list: &[(&str, &str, &str)]) -> Step {
    Step::Answer(Completion {
        content: String::new(),
        reasoning: None,
        tool_calls: list
            .iter()
            .map(|(id, name, args)| ToolCall { id: (*id).into(), name: (*name).into(), arguments: (*args).into() })
            .collect(),
        usage: Usage { input_tokens: 7, output_tokens: 3, ..Default::default() },
        finish_reason: FinishReason::ToolCalls,
        model: None,
        thinking: vec![],
    })
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn complete(
        &self,
        request: &ChatRequest,
        stream: bool,
        on_delta: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        self.requests.lock().unwrap().push(request.clone());
        let step = self.steps.lock().unwrap().pop_front().expect("the test scripted enough steps");
        match step {
            Step::Answer(c) => {
                if stream {
                    for word in c.content.split_inclusive(' ') {
                        on_delta(StreamDelta::Text(word.to_string()));
                    }
                }
                Ok(c)
            }
            Step::Fail(e) => Err(e),
            Step::Hang(t) => {
                on_delta(StreamDelta::Text(t));
                std::future::pending().await
            }
        }
    }
}

struct Echo {
    parallel: bool,
    barrier: Option<Arc<tokio::sync::Barrier>>,
}

#[async_trait]
impl Tool for Echo {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: if self.parallel { "echo".into() } else { "serial_echo".into() },
            description: "echo".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn parallel_safe(&self) -> bool {
        self.parallel
    }
    async fn call(&self, args: serde_json::Value, _ctx: &ToolContext) -> Result<String, ToolError> {
        if let Some(b) = &self.barrier {
            b.wait().await;
        }
        match args.get("say").and_then(|v| v.as_str()) {
            Some(s) => Ok(s.to_string()),
            None => Err(ToolError::InvalidArguments("`say` is required".into())),
        }
    }
}

fn agent(provider: Arc<Scripted>, tools: ToolRegistry, max_iterations: u32) -> Agent {
    Agent::new(
        provider,
        tools,
        AgentSettings { model: "m".into(), max_tokens: 100, temperature: None, stream: true, max_iterations },
    )
}

fn input(text: &str) -> TurnInput {
    TurnInput {
        system: vec![SystemBlock { text: "sys".into(), cache: true }],
        history: vec![Message::user("earlier"), Message::assistant("ok")],
        user: Message::user(text),
        session_id: Some("s1".into()),
        steer: None,
        model: None,
        reasoning: None,
    }
}

async fn run(agent: &Agent, input: TurnInput) -> (TurnOutput, Vec<TurnEvent>) {
    let mut events = Vec::new();
    let out = agent.run_turn(input, &mut |e| events.push(e), CancellationToken::new()).await;
    (out, events)
}

#[tokio::test]
async fn plain_answer_streams_and_sends_history() {
    let p = Scripted::new(vec![text("hello there")]);
    let (out, events) = run(&agent(p.clone(), ToolRegistry::new(), 5), input("hi")).await;
    assert_eq!(out.result.unwrap(), "hello there");
    assert_eq!(out.messages, vec![Message::assistant("hello there")]);
    assert_eq!(events[..2], [TurnEvent::TextDelta("hello ".into()), TurnEvent::TextDelta("there".into())]);
    let req = &p.requests.lock().unwrap()[0];
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    assert!(req.tools.is_empty());
}

#[tokio::test]
async fn tool_round_trip_records_every_message() {
    let p = Scripted::new(vec![calls(&[("c1", "echo", r#"{"say":"pong"}"#)]), text("done")]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let (out, events) = run(&agent(p.clone(), tools, 5), input("ping")).await;
    assert_eq!(out.result.unwrap(), "done");
    assert_eq!(out.messages.len(), 3);
    assert_eq!(out.messages[1].role, Role::Tool);
    assert_eq!(out.messages[1].content, "pong");
    assert_eq!(out.messages[1].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(out.usage.input_tokens, 17);
    assert_eq!(out.model_calls, 2);
    assert!(events.contains(&TurnEvent::ToolCompleted {
        id: "c1".into(),
        name: "echo".into(),
        ok: true,
        result: "pong".into()
    }));
    let second = &p.requests.lock().unwrap()[1];
    assert_eq!(second.messages.last().unwrap().content, "pong");
    assert_eq!(second.tools.len(), 1);
}

#[tokio::test]
async fn turn_overrides_reach_every_model_call() {
    let p = Scripted::new(vec![calls(&[("c1", "echo", r#"{"say":"pong"}"#)]), text("done")]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let a = agent(p.clone(), tools, 5);
    let overridden =
        TurnInput { model: Some("other-model".into()), reasoning: Some(ReasoningEffort::High), ..input("ping") };
    assert_eq!(run(&a, overridden).await.0.result.unwrap(), "done");
    // Without overrides the settings' model is used and no reasoning level is sent.
    let p2 = Scripted::new(vec![text("plain")]);
    run(&agent(p2.clone(), ToolRegistry::new(), 5), input("hi")).await.0.result.unwrap();
    let reqs = p.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2);
    for req in reqs.iter() {
        assert_eq!(req.model, "other-model");
        assert_eq!(req.reasoning, Some(ReasoningEffort::High));
    }
    let plain = &p2.requests.lock().unwrap()[0];
    assert_eq!((plain.model.as_str(), plain.reasoning), ("m", None));
}

#[tokio::test]
async fn thinking_blocks_are_replayed_for_the_rest_of_the_turn() {
    let signed = ThinkingBlock::Thinking { thinking: "use echo".into(), signature: "sig".into() };
    let Step::Answer(mut first) = calls(&[("c1", "echo", r#"{"say":"pong"}"#)]) else { unreachable!() };
    first.thinking = vec![signed.clone()];
    let p = Scripted::new(vec![Step::Answer(first), calls(&[("c2", "echo", r#"{"say":"again"}"#)]), text("done")]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let (out, _) = run(&agent(p.clone(), tools, 5), input("ping")).await;
    assert_eq!(out.result.unwrap(), "done");
    let reqs = p.requests.lock().unwrap();
    assert!(reqs[0].thinking.is_empty());
    // History (2) + user (1): the first assistant answer is message 3 of the request.
    let replay = vec![ThinkingReplay { message: 3, blocks: vec![signed] }];
    assert_eq!(reqs[1].messages[3].tool_calls[0].id, "c1");
    assert_eq!(reqs[1].thinking, replay);
    // The second answer had no thinking; the first one's blocks still travel.
    assert_eq!(reqs[2].thinking, replay);
}

#[tokio::test]
async fn parallel_safe_tools_run_concurrently() {
    // Each call waits at a two-party barrier, so sequential execution would never finish.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let p = Scripted::new(vec![calls(&[("a", "echo", r#"{"say":"1"}"#), ("b", "echo", r#"{"say":"2"}"#)]), text("ok")]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: Some(barrier) }));
    let a = agent(p, tools, 5);
    let (out, _) =
        tokio::time::timeout(Duration::from_secs(10), run(&a, input("go"))).await.expect("tools ran concurrently");
    let results: Vec<&str> = out.messages.iter().filter(|m| m.role == Role::Tool).map(|m| m.content.as_str()).collect();
    assert_eq!(results, ["1", "2"]);
}

#[tokio::test]
async fn bad_calls_become_errors_the_model_sees() {
    let p = Scripted::new(vec![
        calls(&[("a", "nope", "{}"), ("b", "echo", "{not json"), ("c", "echo", "{}")]),
        text("sorry"),
    ]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let (out, _) = run(&agent(p, tools, 5), input("x")).await;
    let results: Vec<&str> = out.messages.iter().filter(|m| m.role == Role::Tool).map(|m| m.content.as_str()).collect();
    assert!(results[0].starts_with("error: there is no tool named `nope`"), "{}", results[0]);
    assert!(results[1].starts_with("error: the arguments are not valid JSON"), "{}", results[1]);
    assert_eq!(results[2], "error: invalid arguments: `say` is required");
    assert_eq!(out.result.unwrap(), "sorry");
}

#[tokio::test]
async fn iteration_cap_forces_an_answer_without_tools() {
    let p = Scripted::new(vec![
        calls(&[("a", "echo", r#"{"say":"1"}"#)]),
        calls(&[("b", "echo", r#"{"say":"2"}"#)]),
        text("final"),
    ]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let (out, _) = run(&agent(p.clone(), tools, 3), input("loop")).await;
    assert_eq!(out.result.unwrap(), "final");
    let reqs = p.requests.lock().unwrap();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].tools.is_empty());
    assert!(reqs[2].system.iter().any(|b| b.text == ITERATION_LIMIT_NOTE));
}

#[tokio::test]
async fn cancellation_keeps_partial_text() {
    let p = Scripted::new(vec![Step::Hang("partial ans".into())]);
    let a = agent(p, ToolRegistry::new(), 5);
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c2.cancel();
    });
    let out = a.run_turn(input("x"), &mut |_| {}, cancel).await;
    assert!(matches!(out.result, Err(TurnError::Cancelled)));
    assert_eq!(out.messages, vec![Message::assistant("partial ans")]);
}

#[tokio::test]
async fn provider_errors_end_the_turn_with_what_was_done() {
    let p = Scripted::new(vec![
        calls(&[("a", "echo", r#"{"say":"1"}"#)]),
        Step::Fail(ProviderError::Malformed { provider: "openai", detail: "bad".into() }),
    ]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let (out, _) = run(&agent(p, tools, 5), input("x")).await;
    assert!(matches!(out.result, Err(TurnError::Provider(ProviderError::Malformed { .. }))));
    assert_eq!(out.messages.len(), 2, "the complete tool call and its result are kept");
}

#[tokio::test]
async fn steered_text_reaches_the_model_after_the_next_tool_call() {
    let p = Scripted::new(vec![calls(&[("c1", "echo", r#"{"say":"pong"}"#)]), text("done")]);
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Echo { parallel: true, barrier: None }));
    let steer = crate::Steering::default();
    assert!(steer.push(7, "use metric units"));
    let mut turn = input("ping");
    turn.steer = Some(steer.clone());
    let (out, _) = run(&agent(p.clone(), tools, 5), turn).await;
    assert_eq!(out.result.unwrap(), "done");
    let second = &p.requests.lock().unwrap()[1];
    assert_eq!(
        second.messages.last().unwrap().content,
        "pong\n\n[The user sent this while you were working: use metric units]"
    );
    // The recorded tool result holds what the model saw.
    assert_eq!(out.messages[1].content, second.messages.last().unwrap().content);
    assert_eq!(steer.close(), (vec![7], vec![]));
    assert!(!steer.push(8, "too late"), "a closed steering refuses new text");
}

#[tokio::test]
async fn steering_a_turn_without_tool_calls_leaves_the_text_untaken() {
    let p = Scripted::new(vec![text("hello")]);
    let steer = crate::Steering::default();
    let mut turn = input("hi");
    turn.steer = Some(steer.clone());
    steer.push(1, "and also this");
    let (out, _) = run(&agent(p, ToolRegistry::new(), 5), turn).await;
    assert_eq!(out.result.unwrap(), "hello");
    assert_eq!(steer.close(), (vec![], vec![(1, "and also this".to_string())]));
}
