//! Full-text search: words, substrings, the automatic mix, and hostile input.

mod common;

use common::{assistant_calling, call, exchange, fts_integrity_check, session, temp_store, usage};
use herald_core::{Message, Role, Usage};
use herald_store::{SearchHit, SearchMode, SearchQuery, SessionPatch, SqliteStore, Store, StoreError};

fn query(text: &str, mode: SearchMode) -> SearchQuery {
    SearchQuery { text: text.to_owned(), mode, limit: 20, session_id: None }
}

async fn find(store: &SqliteStore, text: &str, mode: SearchMode) -> Vec<SearchHit> {
    store.search(query(text, mode)).await.unwrap_or_else(|e| panic!("search {text:?} ({mode:?}): {e}"))
}

/// A store with a small, known corpus: (session a: travel, session b: cooking).
async fn corpus() -> (tempfile::TempDir, SqliteStore, String, String, Vec<i64>, Vec<i64>) {
    let (dir, store) = temp_store();
    let a = session(&store, "a").await;
    store
        .update_session(&a.id, SessionPatch { title: Some(Some("Travel".into())), ..SessionPatch::default() })
        .await
        .expect("title");
    let b = session(&store, "b").await;
    let a_ids = store
        .append_turn(
            &a.id,
            exchange("I am flying to Wellington next week", "Wellington is windy; pack a jacket."),
            usage(10, 5),
            None,
        )
        .await
        .expect("a");
    let b_ids = store
        .append_turn(
            &b.id,
            exchange("How long do I boil an egg?", "Boil the egg for 7 minutes, then cool it in ice water."),
            usage(10, 5),
            None,
        )
        .await
        .expect("b");
    (dir, store, a.id, b.id, a_ids, b_ids)
}

#[tokio::test]
async fn words_find_whole_words_with_snippet_and_title() {
    let (_dir, store, a, _b, a_ids, _) = corpus().await;
    let hits = find(&store, "jacket", SearchMode::Words).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, a_ids[1]);
    assert_eq!(hits[0].session_id, a);
    assert_eq!(hits[0].role, Role::Assistant);
    assert_eq!(hits[0].session_title.as_deref(), Some("Travel"));
    assert_eq!(hits[0].snippet, "Wellington is windy; pack a [jacket].");
    assert!(hits[0].timestamp > 0);

    // Words do not match inside other words, and every word must be present.
    assert!(find(&store, "ingto", SearchMode::Words).await.is_empty());
    assert_eq!(find(&store, "windy jacket", SearchMode::Words).await.len(), 1);
    assert!(find(&store, "windy egg", SearchMode::Words).await.is_empty());
    // Case-insensitive.
    assert_eq!(find(&store, "WELLINGTON", SearchMode::Words).await.len(), 2);
}

#[tokio::test]
async fn words_support_trailing_star_prefixes() {
    let (_dir, store, _a, _b, a_ids, _) = corpus().await;
    let mut ids: Vec<i64> = find(&store, "Welli*", SearchMode::Words).await.iter().map(|h| h.message_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, a_ids);
    assert!(find(&store, "Welli", SearchMode::Words).await.is_empty());
}

#[tokio::test]
async fn words_rank_the_best_match_first() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store
        .append_turn(
            &s.id,
            vec![
                Message::user("egg").into(),
                Message::user("a long message that mentions the egg once among many many other words here").into(),
                Message::user("egg egg egg").into(),
            ],
            Usage::default(),
            None,
        )
        .await
        .expect("append");
    let hits = find(&store, "egg", SearchMode::Words).await;
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[2].message_id, ids[1], "the diluted match ranks last");
}

#[tokio::test]
async fn substring_finds_text_inside_words() {
    let (_dir, store, _a, _b, a_ids, _) = corpus().await;
    let hits = find(&store, "ingto", SearchMode::Substring).await;
    let ids: Vec<i64> = hits.iter().map(|h| h.message_id).collect();
    assert_eq!(ids, [a_ids[1], a_ids[0]], "newest first");
    assert_eq!(hits[1].snippet, "I am flying to Well[ingto]n next week");
    assert_eq!(hits[0].snippet, "Well[ingto]n is windy; pack a jacket.");
    assert_eq!(hits[0].role, Role::Assistant);
    assert_eq!(hits[1].role, Role::User);

    // Case-insensitive, and spanning words.
    assert_eq!(find(&store, "WELLING", SearchMode::Substring).await.len(), 2);
    let spanning = find(&store, "k a jack", SearchMode::Substring).await;
    assert_eq!(spanning.len(), 1);
    assert_eq!(spanning[0].snippet, "Wellington is windy; pac[k a jack]et.");
}

#[tokio::test]
async fn short_substrings_are_scanned() {
    let (_dir, store, _a, _b, a_ids, b_ids) = corpus().await;
    // "gg" occurs only in the egg messages.
    let ids: Vec<i64> = find(&store, "gg", SearchMode::Substring).await.iter().map(|h| h.message_id).collect();
    assert_eq!(ids, [b_ids[1], b_ids[0]]);
    let one = find(&store, "7", SearchMode::Substring).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].snippet, "Boil the egg for [7] minutes, then cool it in ice water.");
    // LIKE wildcards are literal.
    assert!(find(&store, "%", SearchMode::Substring).await.is_empty());
    assert!(find(&store, "_", SearchMode::Substring).await.is_empty());
    assert_eq!(
        find(&store, "wE", SearchMode::Substring).await.iter().map(|h| h.message_id).collect::<Vec<_>>(),
        [a_ids[1], a_ids[0]]
    );
}

#[tokio::test]
async fn auto_puts_word_hits_first_then_fills_with_substrings() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store
        .append_turn(
            &s.id,
            vec![
                Message::user("the cat sat").into(),
                Message::user("concatenate these strings").into(),
                Message::user("a catalogue of cats").into(),
            ],
            Usage::default(),
            None,
        )
        .await
        .expect("append");
    let hits = find(&store, "cat", SearchMode::Auto).await;
    let found: Vec<i64> = hits.iter().map(|h| h.message_id).collect();
    assert_eq!(found[0], ids[0], "the whole-word match comes first");
    assert_eq!(found[1..], [ids[2], ids[1]], "then substring matches, newest first");
    assert_eq!(hits[0].snippet, "the [cat] sat");
    assert_eq!(hits[2].snippet, "con[cat]enate these strings");

    // No duplicates, and the limit holds.
    let limited = store.search(SearchQuery { limit: 2, ..query("cat", SearchMode::Auto) }).await.expect("limited");
    assert_eq!(limited.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0], ids[2]]);
    assert!(store.search(SearchQuery { limit: 0, ..query("cat", SearchMode::Auto) }).await.expect("zero").is_empty());

    // Substring-only text still finds something in auto mode.
    assert_eq!(find(&store, "atalog", SearchMode::Auto).await.len(), 1);
}

#[tokio::test]
async fn fts_syntax_in_queries_is_plain_text() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store
        .append_turn(
            &s.id,
            vec![
                Message::user(r#"He said "hello (world)" AND left: NEAR the ^door - fast*"#).into(),
                Message::user("plain words only").into(),
            ],
            Usage::default(),
            None,
        )
        .await
        .expect("append");
    let hostile = [
        "\"",
        "\"\"",
        "\"hello",
        "hello\"",
        "(",
        ")",
        "(world",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "NEAR(hello world)",
        "left:",
        "content:hello",
        ":",
        "^",
        "^door",
        "-",
        "- fast",
        "*",
        "**",
        "fast*",
        "'",
        "''",
        "a' OR '1'='1",
        "hello AND",
        "AND OR NOT",
        "{content}",
        "[x]",
        "+",
        "hello\"world",
        "\\",
        "%_",
        "NEAR/2",
        "(*",
        "\"*",
        "-* hello",
        "a:*",
        "col:(x OR y)*",
    ];
    for text in hostile {
        for mode in [SearchMode::Words, SearchMode::Substring, SearchMode::Auto] {
            find(&store, text, mode).await;
        }
    }
    // And the literal text is what is searched for.
    let hits = find(&store, r#""hello (world)""#, SearchMode::Substring).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
    let hits = find(&store, "AND left:", SearchMode::Words).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
    let hits = find(&store, "NEAR", SearchMode::Words).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
    let hits = find(&store, "^door", SearchMode::Auto).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
}

#[tokio::test]
async fn empty_text_is_invalid_input() {
    let (_dir, store) = temp_store();
    for text in ["", "   ", "\n\t"] {
        for mode in [SearchMode::Words, SearchMode::Substring, SearchMode::Auto] {
            let err = store.search(query(text, mode)).await.expect_err("empty");
            match err {
                StoreError::InvalidInput(message) => {
                    assert!(message.contains("empty"), "{message}")
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
}

#[tokio::test]
async fn cjk_text_is_found_by_substring() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store
        .append_turn(
            &s.id,
            exchange("私は東京に住んでいます。", "東京タワーは素晴らしいですね。北京烤鸭也很好吃。"),
            Usage::default(),
            None,
        )
        .await
        .expect("append");
    // Two characters: scanned.
    let hits = find(&store, "東京", SearchMode::Substring).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[1], ids[0]]);
    assert_eq!(hits[1].snippet, "私は[東京]に住んでいます。");
    // Three or more: the trigram index.
    let hits = find(&store, "東京に住", SearchMode::Substring).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(hits[0].snippet, "私は[東京に住]んでいます。");
    let hits = find(&store, "烤鸭", SearchMode::Auto).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[1]]);
    assert!(hits[0].snippet.contains("[烤鸭]"), "{}", hits[0].snippet);
}

#[tokio::test]
async fn tool_names_and_calls_are_searchable() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let weather = call("c1", "get_weather", r#"{"city":"Reykjavik"}"#);
    let ids = store
        .append_turn(
            &s.id,
            vec![assistant_calling("", vec![weather.clone()]), Message::tool_result(&weather, "cold").into()],
            Usage::default(),
            None,
        )
        .await
        .expect("append");
    let hits = find(&store, "reykjavik", SearchMode::Words).await;
    assert_eq!(hits.iter().map(|h| h.message_id).collect::<Vec<_>>(), [ids[0]]);
    assert!(hits[0].snippet.contains("[Reykjavik]"), "{}", hits[0].snippet);
    let mut by_name: Vec<i64> =
        find(&store, "get_weather", SearchMode::Substring).await.iter().map(|h| h.message_id).collect();
    by_name.sort_unstable();
    assert_eq!(by_name, ids);
}

#[tokio::test]
async fn the_session_filter_and_inactive_messages() {
    let (dir, store, a, b, a_ids, b_ids) = corpus().await;
    let only_a = store
        .search(SearchQuery { session_id: Some(a.clone()), ..query("e", SearchMode::Substring) })
        .await
        .expect("a");
    assert!(only_a.iter().all(|h| h.session_id == a));
    assert_eq!(only_a.len(), 2);
    let only_b =
        store.search(SearchQuery { session_id: Some(b.clone()), ..query("egg", SearchMode::Auto) }).await.expect("b");
    assert_eq!(only_b.iter().map(|h| h.message_id).collect::<Vec<_>>().len(), 2);
    let none =
        store.search(SearchQuery { session_id: Some(a), ..query("egg", SearchMode::Words) }).await.expect("none");
    assert!(none.is_empty());

    let raw = rusqlite::Connection::open(dir.path().join("herald.db")).expect("open raw");
    raw.execute("UPDATE messages SET active = 0 WHERE id = ?1", [b_ids[1]]).expect("deactivate");
    for mode in [SearchMode::Words, SearchMode::Substring, SearchMode::Auto] {
        let ids: Vec<i64> = find(&store, "egg", mode).await.iter().map(|h| h.message_id).collect();
        assert_eq!(ids, [b_ids[0]], "{mode:?}");
    }
    assert_eq!(find(&store, "ingto", SearchMode::Substring).await.len(), a_ids.len());
}

#[tokio::test]
async fn search_stays_in_sync_after_many_appends() {
    let (dir, store) = temp_store();
    let sessions = [session(&store, "x").await.id, session(&store, "y").await.id];
    let mut needle_ids = Vec::new();
    for i in 0..300_u32 {
        let session = &sessions[(i % 2) as usize];
        let text =
            if i % 30 == 0 { format!("turn {i} mentions the zebrafish") } else { format!("turn {i} is ordinary") };
        let ids = store.append_turn(session, exchange(&text, "noted"), usage(1, 1), None).await.expect("append");
        if i % 30 == 0 {
            needle_ids.push(ids[0]);
        }
        // Every word written is immediately findable.
        if i % 50 == 0 {
            let hits = store
                .search(SearchQuery { limit: 100, ..query("zebrafish", SearchMode::Words) })
                .await
                .expect("search");
            assert_eq!(hits.len(), needle_ids.len(), "after turn {i}");
        }
    }
    let mut words: Vec<i64> = store
        .search(SearchQuery { limit: 100, ..query("zebrafish", SearchMode::Words) })
        .await
        .expect("words")
        .iter()
        .map(|h| h.message_id)
        .collect();
    words.sort_unstable();
    assert_eq!(words, needle_ids);
    let substring: Vec<i64> = store
        .search(SearchQuery { limit: 100, ..query("ebrafi", SearchMode::Substring) })
        .await
        .expect("substring")
        .iter()
        .map(|h| h.message_id)
        .collect();
    let mut newest_first = needle_ids.clone();
    newest_first.reverse();
    assert_eq!(substring, newest_first);
    assert_eq!(find(&store, "noted", SearchMode::Words).await.len(), 20, "the default limit holds");

    fts_integrity_check(&dir.path().join("herald.db"));
    let index = SqliteStore::search_index_path(&dir.path().join("herald.db"));
    let raw = rusqlite::Connection::open(index).expect("open raw");
    for table in ["messages_fts_docsize", "messages_fts_trigram_docsize"] {
        let indexed: i64 = raw.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count");
        assert_eq!(indexed, 600, "{table}");
    }
}
