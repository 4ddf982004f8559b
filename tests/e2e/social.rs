//! Friends, groups and direct messages (`rest.md` §5.10–5.11, `websocket.md` §8.20), over
//! REST and the socket: requests and acceptances, blocks that block both friend requests
//! and DMs whichever route set them, group roles, and DM history that survives a restart.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{FRAME_TIMEOUT, TestServer};

fn statuses(body: &Value) -> Vec<(String, String)> {
    body["friends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["friend_id"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn friend_requests_acceptances_and_removals() {
    let s = TestServer::start().await;
    let (a, b, c) = (
        s.register("amy").await,
        s.register("ben").await,
        s.register("cat").await,
    );
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));

    let r = s
        .post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["player_id"], a.player_id.as_str());
    for key in ["id", "friend_id", "inserted_at", "updated_at"] {
        assert!(r.body.get(key).is_some(), "friendship row has {key}");
    }
    let again = s
        .post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;
    assert_eq!(
        again.body["id"], r.body["id"],
        "an existing row is returned as is"
    );

    // Errors.
    let r = s
        .post("/api/v1/friends", json!({"friend_id": a.player_id}), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "social.cannot_friend_self")
    );
    let r = s
        .post(
            "/api/v1/friends",
            json!({"friend_id": "0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b"}),
            ta,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.friend_not_found")
    );
    let r = s.post("/api/v1/friends", json!({"friend_id": 7}), ta).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );
    let r = s
        .put(
            &format!("/api/v1/friends/{}", c.player_id),
            json!({"status": "accepted"}),
            ta,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.friendship_not_found")
    );
    let r = s
        .put(
            &format!("/api/v1/friends/{}", a.player_id),
            json!({"status": "besties"}),
            tb,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        r.body["errors"]["status"].is_array(),
        "legacy top-level errors: {}",
        r.body
    );

    // Ben accepts: both list the friendship.
    let r = s
        .put(
            &format!("/api/v1/friends/{}", a.player_id),
            json!({"status": "accepted"}),
            tb,
        )
        .await;
    assert_eq!(r.body["status"], "accepted", "{}", r.body);
    assert_eq!(
        statuses(&s.get("/api/v1/friends", ta).await.body),
        [(b.player_id.clone(), "accepted".into())]
    );
    assert_eq!(
        statuses(&s.get("/api/v1/friends", tb).await.body),
        [(a.player_id.clone(), "accepted".into())]
    );
    let r = s
        .post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "social.already_friend")
    );
    let r = s.get("/api/v1/friends?status=pending", ta).await;
    assert_eq!(r.body, json!({"friends": []}));

    // Crossing requests make friends at once.
    let tc = Some(c.access_token.as_str());
    s.post("/api/v1/friends", json!({"friend_id": a.player_id}), tc)
        .await;
    let r = s
        .post("/api/v1/friends", json!({"friend_id": c.player_id}), ta)
        .await;
    assert_eq!(r.body["status"], "accepted", "{}", r.body);

    // Unfriending removes both directions.
    let r = s
        .delete(&format!("/api/v1/friends/{}", b.player_id), ta)
        .await;
    assert_eq!(r.body, json!({"success": true}));
    assert!(statuses(&s.get("/api/v1/friends", tb).await.body).is_empty());
    let r = s
        .delete(&format!("/api/v1/friends/{}", b.player_id), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.friendship_not_found")
    );
}

#[tokio::test]
async fn a_block_stops_friend_requests_and_direct_messages() {
    let s = TestServer::start().await;
    let (a, b) = (s.register("pest").await, s.register("target").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));
    s.post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;

    // Ben blocks Amy through the contract's route (answering her request).
    let r = s
        .put(
            &format!("/api/v1/friends/{}", a.player_id),
            json!({"status": "blocked"}),
            tb,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "blocked");
    assert!(
        statuses(&s.get("/api/v1/friends", ta).await.body).is_empty(),
        "her request is gone"
    );
    let r = s
        .post("/api/v1/friends", json!({"friend_id": b.player_id}), ta)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(r.body["error"]["details"]["reason"], "blocked");
    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": b.player_id, "content": "hi"}),
            ta,
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "dm.blocked"));
    let mut wa = s.ws_as(&a).await;
    let r = wa
        .request(
            "dm.send",
            json!({"recipient_id": b.player_id, "content": "hi"}),
        )
        .await;
    assert_eq!(r["payload"]["reason"], "blocked", "{r}");
    assert_eq!(r["payload"]["error"]["code"], "dm.blocked");
    // Nor through the pair's chat channel.
    let dm = asobi_services::chat::dm_channel(&a.player_id, &b.player_id);
    let r = wa.request("chat.join", json!({"channel_id": dm})).await;
    assert_eq!(r["payload"]["reason"], "not_authorized", "{r}");
    let (lo, hi) = dm[3..].split_once(':').unwrap();
    let backwards = format!("dm:{hi}:{lo}");
    let mut wb = s.ws_as(&b).await;
    let r = wb
        .request("chat.join", json!({"channel_id": backwards}))
        .await;
    assert_eq!(
        r["payload"]["reason"], "not_authorized",
        "only the canonical id: {r}"
    );
    // The blocker can still write; the block is one-way.
    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": a.player_id, "content": "stop"}),
            tb,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Lifting it (DELETE of the block row) lets her write again.
    let r = s
        .delete(&format!("/api/v1/friends/{}", a.player_id), tb)
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": b.player_id, "content": "sorry"}),
            ta,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // A block needs no request first.
    let r = s
        .put(
            &format!("/api/v1/friends/{}", b.player_id),
            json!({"status": "blocked"}),
            ta,
        )
        .await;
    assert_eq!(r.body["status"], "blocked");
    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": a.player_id, "content": "?"}),
            tb,
        )
        .await;
    assert_eq!(r.code(), "dm.blocked");
}

#[tokio::test]
async fn direct_messages_push_and_their_history_survives_a_restart() {
    let mut s = TestServer::start().await;
    let (a, b) = (s.register("sender").await, s.register("reader").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));
    let mut wa = s.ws_as(&a).await;
    let mut wb = s.ws_as(&b).await;

    let r = s
        .post(
            "/api/v1/dm",
            json!({"recipient_id": b.player_id, "content": "one"}),
            ta,
        )
        .await;
    let channel = r.body["channel_id"].as_str().unwrap().to_owned();
    let (lo, hi) = if a.player_id < b.player_id {
        (&a.player_id, &b.player_id)
    } else {
        (&b.player_id, &a.player_id)
    };
    assert_eq!(channel, format!("dm:{lo}:{hi}"));
    assert_eq!(r.body["success"], true);
    let pushed = wb.recv_type_within("dm.message", FRAME_TIMEOUT).await;
    assert_eq!(pushed["payload"]["content"], "one");
    assert_eq!(pushed["payload"]["sender_id"], a.player_id.as_str());
    assert_eq!(pushed["payload"]["channel_id"], channel.as_str());
    assert!(pushed["payload"]["sent_at"].is_i64());

    let r = wa
        .request(
            "dm.send",
            json!({"recipient_id": b.player_id, "content": "two"}),
        )
        .await;
    assert_eq!(r["type"], "dm.sent", "{r}");
    assert_eq!(r["payload"]["channel_id"], channel.as_str());
    assert_eq!(
        wb.recv_type_within("dm.message", FRAME_TIMEOUT).await["payload"]["content"],
        "two"
    );
    let r = wb
        .request(
            "dm.send",
            json!({"recipient_id": a.player_id, "content": "three"}),
        )
        .await;
    assert_eq!(r["type"], "dm.sent");
    assert_eq!(
        wa.recv_type_within("dm.message", FRAME_TIMEOUT).await["payload"]["content"],
        "three"
    );

    // Refusals, over both surfaces.
    for (body, status, code, reason) in [
        (
            json!({"recipient_id": b.player_id, "content": ""}),
            StatusCode::BAD_REQUEST,
            "dm.content_empty",
            "content_empty",
        ),
        (
            json!({"recipient_id": b.player_id, "content": "x".repeat(2001)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "dm.content_too_large",
            "content_too_large",
        ),
        (
            json!({"recipient_id": "nobody", "content": "x"}),
            StatusCode::NOT_FOUND,
            "player.not_found",
            "not_found",
        ),
    ] {
        let r = s.post("/api/v1/dm", body.clone(), ta).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}");
        let r = wa.request("dm.send", body.clone()).await;
        assert_eq!(r["payload"]["reason"], reason, "{r}");
    }
    let r = s
        .post("/api/v1/dm", json!({"recipient_id": b.player_id}), ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );

    // History: oldest first, from either side, limited to the newest `limit`.
    let h = s
        .get(&format!("/api/v1/dm/{}/history", a.player_id), tb)
        .await;
    let contents: Vec<&str> = h.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["one", "two", "three"]);
    assert_eq!(h.body["channel_id"], channel.as_str());
    assert!(h.body["messages"][0]["sent_at"].is_i64());
    let h = s
        .get(&format!("/api/v1/dm/{}/history?limit=2", b.player_id), ta)
        .await;
    assert_eq!(h.body["messages"].as_array().unwrap().len(), 2);
    assert_eq!(h.body["messages"][0]["content"], "two");

    // A restart keeps it (the original kept DMs in a 60-second in-memory buffer).
    drop((wa, wb));
    s.stop().await;
    let url = s.database_url.clone();
    let s2 = TestServer::start_on(url, Vec::new(), |_| {}).await;
    let h = s2
        .get(&format!("/api/v1/dm/{}/history", a.player_id), tb)
        .await;
    assert_eq!(
        h.body["messages"].as_array().unwrap().len(),
        3,
        "{}",
        h.body
    );
    drop(s2);
}

#[tokio::test]
async fn groups_roles_joins_and_leaves() {
    let s = TestServer::start().await;
    let (o, m, x, y) = (
        s.register("owner").await,
        s.register("member").await,
        s.register("extra").await,
        s.register("late").await,
    );
    let (to, tm, tx, ty) = (
        Some(o.access_token.as_str()),
        Some(m.access_token.as_str()),
        Some(x.access_token.as_str()),
        Some(y.access_token.as_str()),
    );

    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "x"}), "name"),
        (json!({"name": "ok", "max_members": 0}), "max_members"),
        (json!({"name": "ok", "open": "yes"}), "open"),
    ] {
        let r = s.post("/api/v1/groups", body.clone(), to).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{body}"
        );
        assert!(r.body["errors"][field].is_array(), "{}", r.body);
    }
    let r = s
        .post(
            "/api/v1/groups",
            json!({"name": "Guild", "description": "we play", "max_members": 3}),
            to,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (r.body["open"].as_bool(), r.body["creator_id"].as_str()),
        (Some(false), Some(o.player_id.as_str()))
    );
    for key in [
        "name",
        "description",
        "max_members",
        "metadata",
        "inserted_at",
        "updated_at",
    ] {
        assert!(r.body.get(key).is_some(), "group row has {key}");
    }
    let r = s.get(&format!("/api/v1/groups/{id}"), tm).await;
    assert_eq!(r.body["name"], "Guild");
    let r = s
        .get("/api/v1/groups/0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b", tm)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.group_not_found")
    );

    // Closed until the owner opens it; non-members cannot change it.
    let join = format!("/api/v1/groups/{id}/join");
    let r = s.post(&join, json!({}), tm).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "social.group_closed")
    );
    let r = s
        .put(&format!("/api/v1/groups/{id}"), json!({"open": true}), tm)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = s
        .put(&format!("/api/v1/groups/{id}"), json!({"open": true}), to)
        .await;
    assert_eq!(r.body["open"], true, "{}", r.body);
    let r = s.post(&join, json!({}), tm).await;
    assert_eq!(r.body, json!({"success": true, "group_id": id}));
    let r = s.post(&join, json!({}), tm).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "social.already_member")
    );
    s.post(&join, json!({}), tx).await;
    let r = s.post(&join, json!({}), ty).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "social.group_full")
    );
    let r = s
        .post(
            "/api/v1/groups/0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b/join",
            json!({}),
            ty,
        )
        .await;
    assert_eq!(r.code(), "social.group_not_found");

    let r = s.get(&format!("/api/v1/groups/{id}/members"), ty).await;
    let roles: Vec<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["owner", "member", "member"]);

    // Roles: only admins and up promote, never to owner, never at or above their own rank.
    let role = |p: &str| format!("/api/v1/groups/{id}/members/{p}/role");
    let r = s
        .put(&role(&x.player_id), json!({"role": "overlord"}), to)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "social.invalid_role")
    );
    let r = s
        .put(&role(&x.player_id), json!({"role": "moderator"}), tm)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = s
        .put(&role(&m.player_id), json!({"role": "admin"}), to)
        .await;
    assert_eq!(r.body["role"], "admin", "{}", r.body);
    let r = s
        .put(&role(&x.player_id), json!({"role": "owner"}), tm)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .put(&role(&x.player_id), json!({"role": "admin"}), tm)
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an admin cannot make another admin"
    );
    let r = s
        .put(&role(&x.player_id), json!({"role": "moderator"}), tm)
        .await;
    assert_eq!(r.body["role"], "moderator");
    let r = s
        .put(&role(&y.player_id), json!({"role": "member"}), to)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.member_not_found")
    );

    // Kicks: moderators and up, over lower ranks only.
    let kick = |p: &str| format!("/api/v1/groups/{id}/members/{p}");
    let r = s.delete(&kick(&m.player_id), tx).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a moderator cannot kick an admin"
    );
    let r = s.delete(&kick(&x.player_id), tm).await;
    assert_eq!(r.body, json!({"success": true}));
    let r = s.delete(&kick(&x.player_id), tm).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "social.member_not_found")
    );

    // Leaving always succeeds; the owner's leaving hands the group on; the last one out
    // removes it.
    let leave = format!("/api/v1/groups/{id}/leave");
    assert_eq!(
        s.post(&leave, json!({}), ty).await.body,
        json!({"success": true})
    );
    s.post(&leave, json!({}), to).await;
    let r = s.get(&format!("/api/v1/groups/{id}/members"), tm).await;
    assert_eq!(r.body["members"][0]["role"], "owner", "{}", r.body);
    s.post(&leave, json!({}), tm).await;
    let r = s.get(&format!("/api/v1/groups/{id}"), tm).await;
    assert_eq!(r.code(), "social.group_not_found");
}

#[tokio::test]
async fn chat_channels_deliver_to_joined_connections_and_refuse_the_rest() {
    let names: Vec<String> = std::iter::once("lobby".to_owned())
        .chain((0..32).map(|i| format!("c{i}")))
        .collect();
    let s = TestServer::start_with(move |c| c.chat_global_channels = names).await;
    let (a, b, c) = (
        s.register("chatty").await,
        s.register("listener").await,
        s.register("outsider").await,
    );
    let (mut wa, mut wb, mut wc) = (s.ws_as(&a).await, s.ws_as(&b).await, s.ws_as(&c).await);

    let join = |ch: &str| json!({ "channel_id": ch });
    for w in [&mut wa, &mut wb] {
        let r = w.request("chat.join", join("global:lobby")).await;
        assert_eq!(r["type"], "chat.joined", "{r}");
        assert_eq!(r["payload"]["channel_id"], "global:lobby");
    }
    for (channel, code, reason) in [
        ("global:secret", "forbidden", "not_authorized"),
        ("lobby", "chat.invalid_channel_id", "invalid_channel_id"),
        ("party:x", "chat.invalid_channel_id", "invalid_channel_id"),
        (
            "world:0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b",
            "forbidden",
            "not_authorized",
        ),
        ("room:NOT-A-UUID", "forbidden", "not_authorized"),
    ] {
        let r = wc.request("chat.join", join(channel)).await;
        assert_eq!(r["payload"]["error"]["code"], code, "{channel}: {r}");
        assert_eq!(r["payload"]["reason"], reason, "{channel}");
    }

    // A message reaches every joined connection, the sender's included; no reply frame.
    let say = |ch: &str, text: &str| json!({"type": "chat.send", "payload": {"channel_id": ch, "content": text}});
    wa.send(say("global:lobby", "hello")).await;
    for w in [&mut wb, &mut wa] {
        let m = w.recv_type_within("chat.message", FRAME_TIMEOUT).await;
        assert_eq!(m["payload"]["content"], "hello");
        assert_eq!(m["payload"]["sender_id"], a.player_id.as_str());
        assert_eq!(m["payload"]["channel_id"], "global:lobby");
        assert!(m["payload"]["sent_at"].is_i64());
    }
    // Too long is dropped silently; the next message is what arrives.
    wa.send(say("global:lobby", &"x".repeat(2001))).await;
    wa.send(say("global:lobby", "")).await;
    let m = wb.recv_type_within("chat.message", FRAME_TIMEOUT).await;
    assert_eq!(
        m["payload"]["content"], "",
        "empty is accepted; the long one was dropped"
    );
    let r = wc
        .request(
            "chat.send",
            json!({"channel_id": "global:secret", "content": "x"}),
        )
        .await;
    assert_eq!(r["payload"]["reason"], "not_authorized", "{r}");
    let r = wc
        .request("chat.send", json!({"channel_id": "global:lobby"}))
        .await;
    assert_eq!(r["payload"]["reason"], "invalid_payload", "{r}");

    // Leaving stops delivery to that connection.
    let r = wb.request("chat.leave", join("global:lobby")).await;
    assert_eq!(r["type"], "chat.left");
    wa.send(say("global:lobby", "after")).await;
    // The sender's own copy shows the server has delivered it (skipping the earlier "").
    loop {
        let m = wa.recv_type_within("chat.message", FRAME_TIMEOUT).await;
        if m["payload"]["content"] == "after" {
            break;
        }
    }
    wb.request("chat.join", join("global:lobby")).await;
    wa.send(say("global:lobby", "back")).await;
    let m = wb.recv_type_within("chat.message", FRAME_TIMEOUT).await;
    assert_eq!(
        m["payload"]["content"], "back",
        "`after` never reached the connection that left"
    );

    // History: persisted, oldest first; only for those who may use the channel.
    let h = s
        .get("/api/v1/chat/global:lobby/history", Some(&c.access_token))
        .await;
    let contents: Vec<&str> = h.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["hello", "", "after", "back"], "{}", h.body);
    for key in ["id", "channel_type", "sender_id", "metadata", "sent_at"] {
        assert!(
            h.body["messages"][0].get(key).is_some(),
            "message row has {key}"
        );
    }
    let h = s
        .get(
            "/api/v1/chat/global:lobby/history?limit=1",
            Some(&c.access_token),
        )
        .await;
    assert_eq!(h.body["messages"][0]["content"], "back");
    for channel in ["global:secret", "nonsense"] {
        let h = s
            .get(
                &format!("/api/v1/chat/{channel}/history"),
                Some(&c.access_token),
            )
            .await;
        assert_eq!(
            (h.status, h.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{channel}"
        );
    }

    // room: channels are their group's members'.
    let g = s
        .post(
            "/api/v1/groups",
            json!({"name": "Team", "open": true}),
            Some(&a.access_token),
        )
        .await;
    let room = format!("room:{}", g.body["id"].as_str().unwrap());
    s.post(
        &format!("/api/v1/groups/{}/join", g.body["id"].as_str().unwrap()),
        json!({}),
        Some(&b.access_token),
    )
    .await;
    assert_eq!(
        wb.request("chat.join", join(&room)).await["type"],
        "chat.joined"
    );
    let r = wc.request("chat.join", join(&room)).await;
    assert_eq!(r["payload"]["reason"], "not_authorized");
    // Out of the group, out of its room: Ben leaves, Amy talks in the room, then the lobby.
    let gid = g.body["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/api/v1/groups/{gid}/leave"),
        json!({}),
        Some(&b.access_token),
    )
    .await;
    assert_eq!(
        wa.request("chat.join", join(&room)).await["type"],
        "chat.joined"
    );
    wa.send(say(&room, "room only")).await;
    wa.send(say("global:lobby", "lobby")).await;
    let m = wb.recv_type_within("chat.message", FRAME_TIMEOUT).await;
    assert_eq!(
        m["payload"]["content"], "lobby",
        "the room message never reached Ben"
    );

    // dm: channels are their two players'; a direct message also arrives there as chat.
    let dm = asobi_services::chat::dm_channel(&a.player_id, &b.player_id);
    assert_eq!(
        wa.request("chat.join", join(&dm)).await["type"],
        "chat.joined"
    );
    assert_eq!(
        wc.request("chat.join", join(&dm)).await["payload"]["reason"],
        "not_authorized"
    );
    s.post(
        "/api/v1/dm",
        json!({"recipient_id": a.player_id, "content": "psst"}),
        Some(&b.access_token),
    )
    .await;
    let m = wa.recv_type_within("chat.message", FRAME_TIMEOUT).await;
    assert_eq!(
        (
            m["payload"]["channel_id"].as_str(),
            m["payload"]["content"].as_str()
        ),
        (Some(dm.as_str()), Some("psst"))
    );

    // 32 channels per connection.
    for i in 0..32 {
        let r = wc.request("chat.join", join(&format!("global:c{i}"))).await;
        assert_eq!(r["type"], "chat.joined", "{i}: {r}");
    }
    let r = wc.request("chat.join", join("global:lobby")).await;
    assert_eq!(
        r["payload"]["error"]["code"], "chat.too_many_channels",
        "{r}"
    );
    assert_eq!(
        wc.request("chat.leave", join("global:c0")).await["type"],
        "chat.left"
    );
    assert_eq!(
        wc.request("chat.join", join("global:lobby")).await["type"],
        "chat.joined"
    );
}

#[tokio::test]
async fn friends_who_subscribe_see_presence_follow_sessions() {
    let s = TestServer::start().await;
    let (a, b, c) = (
        s.register("present").await,
        s.register("watcher").await,
        s.register("stranger").await,
    );
    s.post(
        "/api/v1/friends",
        json!({"friend_id": b.player_id}),
        Some(&a.access_token),
    )
    .await;
    s.put(
        &format!("/api/v1/friends/{}", a.player_id),
        json!({"status": "accepted"}),
        Some(&b.access_token),
    )
    .await;

    let mut wb = s.ws_as(&b).await;
    let r = wb.request("asobi.presence.subscribe", json!({})).await;
    assert_eq!(r["type"], "asobi.presence.snapshot", "{r}");
    assert_eq!(
        r["payload"]["friends"],
        json!([{"player_id": a.player_id, "online": false, "status": null}])
    );
    let mut wc = s.ws_as(&c).await;
    let r = wc.request("asobi.presence.subscribe", json!({})).await;
    assert_eq!(
        r["payload"]["friends"],
        json!([]),
        "not a friend: nothing to see"
    );

    // Amy arrives, changes status, opens a second socket, closes both.
    let mut wa1 = s.ws_as(&a).await;
    let p = wb
        .recv_type_within("asobi.presence.changed", FRAME_TIMEOUT)
        .await;
    assert_eq!(
        p["payload"],
        json!({"player_id": a.player_id, "online": true, "status": "online"})
    );
    let r = wa1
        .request("presence.update", json!({"status": {"mode": "away"}}))
        .await;
    assert_eq!(
        r["payload"],
        json!({"status": {"mode": "away"}}),
        "the contract's reply"
    );
    let p = wb
        .recv_type_within("asobi.presence.changed", FRAME_TIMEOUT)
        .await;
    assert_eq!(p["payload"]["status"], json!({"mode": "away"}));
    let f = s
        .get("/api/v1/friends?presence=true", Some(&b.access_token))
        .await;
    assert_eq!(
        f.body["friends"][0]["presence"],
        json!({"online": true, "status": {"mode": "away"}})
    );
    let f = s.get("/api/v1/friends", Some(&b.access_token)).await;
    assert!(
        f.body["friends"][0].get("presence").is_none(),
        "only when asked"
    );

    let wa2 = s.ws_as(&a).await;
    drop(wa1);
    // Still online through the second socket: the next change Ben sees is the last close.
    drop(wa2);
    let p = wb
        .recv_type_within("asobi.presence.changed", FRAME_TIMEOUT)
        .await;
    assert_eq!(
        p["payload"],
        json!({"player_id": a.player_id, "online": false, "status": null}),
        "{p}"
    );
    let f = s
        .get("/api/v1/friends?presence=true", Some(&b.access_token))
        .await;
    assert_eq!(f.body["friends"][0]["presence"]["online"], false);
}

#[tokio::test]
async fn a_party_of_three_is_matched_together_and_a_decliner_cannot_be_queued() {
    let s = TestServer::start_with_modes(crate::modes::all(), |c| c.matchmaker_tick_ms = 100).await;
    let (l, m1, m2, d, o) = (
        s.register("leader").await,
        s.register("mate1").await,
        s.register("mate2").await,
        s.register("decliner").await,
        s.register("other").await,
    );
    let t = |a: &crate::common::Account| Some(a.access_token.clone());
    let (mut wl, mut w1, mut w2) = (s.ws_as(&l).await, s.ws_as(&m1).await, s.ws_as(&m2).await);

    let r = s
        .post("/api/v1/parties", json!({"max_size": 4}), t(&l).as_deref())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["leader_id"], l.player_id.as_str());
    let r = s.post("/api/v1/parties", json!({}), t(&l).as_deref()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "party.already_in_party")
    );

    for p in [&m1, &m2, &d] {
        let r = s
            .post(
                &format!("/api/v1/parties/{id}/invite"),
                json!({"player_id": p.player_id}),
                t(&l).as_deref(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let inv = w1
        .recv_type_within("asobi.party.invited", FRAME_TIMEOUT)
        .await;
    assert_eq!(inv["payload"]["party_id"], id.as_str());
    assert_eq!(inv["payload"]["from"], l.player_id.as_str());
    let n = w1.recv_type_within("notification.new", FRAME_TIMEOUT).await;
    assert_eq!(n["payload"]["type"], "party_invite");
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/invite"),
            json!({"player_id": o.player_id}),
            t(&m1).as_deref(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "party.not_leader")
    );
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/accept"),
            json!({}),
            t(&o).as_deref(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "party.not_invited")
    );

    for p in [&m1, &m2] {
        let r = s
            .post(
                &format!("/api/v1/parties/{id}/accept"),
                json!({}),
                t(p).as_deref(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/decline"),
            json!({}),
            t(&d).as_deref(),
        )
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/accept"),
            json!({}),
            t(&d).as_deref(),
        )
        .await;
    assert_eq!(r.code(), "party.not_invited", "declined");
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/invite"),
            json!({"player_id": d.player_id}),
            t(&l).as_deref(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload"),
        "a decline stays a decline"
    );
    loop {
        let u = wl
            .recv_type_within("asobi.party.updated", FRAME_TIMEOUT)
            .await;
        if u["payload"]["members"].as_array().unwrap().len() == 3 {
            break;
        }
    }
    let r = s
        .post(
            "/api/v1/parties/ready",
            json!({"ready": true}),
            t(&m1).as_deref(),
        )
        .await;
    assert_eq!(r.body["members"][1]["ready"], true, "{}", r.body);
    let r = s.get("/api/v1/parties/me", t(&m2).as_deref()).await;
    let members: Vec<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["player_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        [
            l.player_id.as_str(),
            m1.player_id.as_str(),
            m2.player_id.as_str()
        ]
    );
    let r = s.get("/api/v1/parties/me", t(&o).as_deref()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "party.not_found")
    );

    // The decliner cannot be queued by the leader; a member cannot queue the party.
    let r = wl
        .request(
            "matchmaker.add",
            json!({"mode": "lockable", "party": [d.player_id]}),
        )
        .await;
    assert_eq!(
        r["payload"]["error"]["details"]["reason"], "party_not_accepted",
        "{r}"
    );
    let r = w1
        .request("matchmaker.add", json!({"mode": "lockable"}))
        .await;
    assert_eq!(
        r["payload"]["error"]["details"]["reason"], "party_not_accepted",
        "{r}"
    );

    // The leader queues: the three are matched into one match together.
    let r = wl
        .request("matchmaker.add", json!({"mode": "lockable"}))
        .await;
    assert_eq!(r["type"], "matchmaker.queued", "{r}");
    let mut ids = Vec::new();
    for w in [&mut wl, &mut w1, &mut w2] {
        let m = w
            .recv_type_within("match.matched", std::time::Duration::from_secs(10))
            .await;
        let mut roster: Vec<String> =
            serde_json::from_value(m["payload"]["players"].clone()).unwrap();
        roster.sort();
        let mut want = vec![
            l.player_id.clone(),
            m1.player_id.clone(),
            m2.player_id.clone(),
        ];
        want.sort();
        assert_eq!(roster, want);
        ids.push(m["payload"]["match_id"].clone());
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "one match");

    // A party that changes is no longer the unit that queued: its tickets are withdrawn.
    let r = wl.request("matchmaker.add", json!({"mode": "picky"})).await;
    let ticket = r["payload"]["ticket_id"].as_str().unwrap().to_owned();
    let r = s
        .get(&format!("/api/v1/matchmaker/{ticket}"), t(&l).as_deref())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Kick, leave (leadership passes), disband: each tells the members.
    let r = s
        .post(
            &format!("/api/v1/parties/{id}/kick"),
            json!({"player_id": m2.player_id}),
            t(&l).as_deref(),
        )
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let left = w2.recv_type_within("asobi.party.left", FRAME_TIMEOUT).await;
    assert_eq!(left["payload"], json!({"party_id": id, "reason": "kicked"}));
    let r = s
        .get(&format!("/api/v1/matchmaker/{ticket}"), t(&l).as_deref())
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "the party's tickets went with the kick: {}",
        r.body
    );
    let r = s
        .post("/api/v1/parties/leave", json!({}), t(&l).as_deref())
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let r = s.get("/api/v1/parties/me", t(&m1).as_deref()).await;
    assert_eq!(
        r.body["leader_id"],
        m1.player_id.as_str(),
        "leadership passed on"
    );
    let r = s
        .delete(&format!("/api/v1/parties/{id}"), t(&m1).as_deref())
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let left = w1.recv_type_within("asobi.party.left", FRAME_TIMEOUT).await;
    assert_eq!(left["payload"]["reason"], "disbanded");
    let r = s.get("/api/v1/parties/me", t(&m1).as_deref()).await;
    assert_eq!(r.code(), "party.not_found");

    // Size, blocks.
    let r = s
        .post("/api/v1/parties", json!({"max_size": 2}), t(&o).as_deref())
        .await;
    let small = r.body["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/api/v1/parties/{small}/invite"),
        json!({"player_id": d.player_id}),
        t(&o).as_deref(),
    )
    .await;
    s.post(
        &format!("/api/v1/parties/{small}/accept"),
        json!({}),
        t(&d).as_deref(),
    )
    .await;
    let r = s
        .post(
            &format!("/api/v1/parties/{small}/invite"),
            json!({"player_id": l.player_id}),
            t(&o).as_deref(),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "party.full"));
    s.put(
        &format!("/api/v1/friends/{}", o.player_id),
        json!({"status": "blocked"}),
        t(&m2).as_deref(),
    )
    .await;
    s.post("/api/v1/parties/leave", json!({}), t(&d).as_deref())
        .await;
    let r = s
        .post(
            &format!("/api/v1/parties/{small}/invite"),
            json!({"player_id": m2.player_id}),
            t(&o).as_deref(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "blocked"
    );
    let r = s
        .post(
            "/api/v1/parties",
            json!({"max_size": 99}),
            t(&m2).as_deref(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );
}

#[tokio::test]
async fn parties_over_the_socket() {
    let s = TestServer::start().await;
    let (l, m) = (s.register("sock_lead").await, s.register("sock_mate").await);
    let (mut wl, mut wm) = (s.ws_as(&l).await, s.ws_as(&m).await);
    let r = wl
        .request("asobi.party.create", json!({"max_size": 2}))
        .await;
    assert_eq!(r["type"], "asobi.party.updated", "{r}");
    let id = r["payload"]["id"].as_str().unwrap().to_owned();
    let r = wl.request("asobi.party.create", json!({})).await;
    assert_eq!(
        r["payload"]["error"]["code"], "party.already_in_party",
        "{r}"
    );
    assert_eq!(r["payload"]["reason"], "already_in_party");
    let r = wl
        .request(
            "asobi.party.invite",
            json!({"party_id": id, "player_id": m.player_id}),
        )
        .await;
    assert_eq!(r["payload"]["invites"][0]["status"], "pending", "{r}");
    wm.recv_type_within("asobi.party.invited", FRAME_TIMEOUT)
        .await;
    let r = wm
        .request("asobi.party.accept", json!({"party_id": id}))
        .await;
    assert_eq!(r["payload"]["members"].as_array().unwrap().len(), 2, "{r}");
    let r = wm
        .request("asobi.party.ready", json!({"ready": true}))
        .await;
    assert_eq!(r["payload"]["members"][1]["ready"], true);
    let u = loop {
        let u = wl
            .recv_type_within("asobi.party.updated", FRAME_TIMEOUT)
            .await;
        if u["payload"]["members"][1]["ready"] == true {
            break u;
        }
    };
    assert_eq!(u["payload"]["leader_id"], l.player_id.as_str());
    let r = wm
        .request(
            "asobi.party.kick",
            json!({"party_id": id, "player_id": l.player_id}),
        )
        .await;
    assert_eq!(r["payload"]["error"]["code"], "party.not_leader", "{r}");
    let r = wm.request("asobi.party.accept", json!({})).await;
    assert_eq!(r["payload"]["reason"], "missing_field");
    let r = wm.request("asobi.party.leave", json!({})).await;
    assert_eq!(r["type"], "asobi.party.ok", "{r}");
    let r = wl
        .request("asobi.party.disband", json!({"party_id": id}))
        .await;
    assert_eq!(r["type"], "asobi.party.ok");
    let r = wl.request("asobi.party.leave", json!({})).await;
    assert_eq!(r["payload"]["error"]["code"], "party.not_found");
}

#[tokio::test]
async fn erasing_a_player_hands_on_their_party_and_group_and_removes_their_words() {
    let s = TestServer::start().await;
    let (a, b) = (s.register("leaving").await, s.register("staying").await);
    let (ta, tb) = (Some(a.access_token.as_str()), Some(b.access_token.as_str()));
    let party = s.post("/api/v1/parties", json!({}), ta).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.post(
        &format!("/api/v1/parties/{party}/invite"),
        json!({"player_id": b.player_id}),
        ta,
    )
    .await;
    s.post(&format!("/api/v1/parties/{party}/accept"), json!({}), tb)
        .await;
    let group = s
        .post("/api/v1/groups", json!({"name": "Guild", "open": true}), ta)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.post(&format!("/api/v1/groups/{group}/join"), json!({}), tb)
        .await;
    s.post(
        "/api/v1/dm",
        json!({"recipient_id": b.player_id, "content": "bye"}),
        ta,
    )
    .await;
    let mut wb = s.ws_as(&b).await;

    let r = s
        .post(
            "/api/v1/players/me/erase",
            json!({"password": "password-123"}),
            ta,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let u = wb
        .recv_type_within("asobi.party.updated", FRAME_TIMEOUT)
        .await;
    assert_eq!(u["payload"]["leader_id"], b.player_id.as_str(), "{u}");
    let r = s.get("/api/v1/parties/me", tb).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    let r = s.get(&format!("/api/v1/groups/{group}/members"), tb).await;
    assert_eq!(r.body["members"][0]["role"], "owner", "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    let h = s
        .get(&format!("/api/v1/dm/{}/history", a.player_id), tb)
        .await;
    assert_eq!(
        h.body["messages"],
        json!([]),
        "an erased player's messages go with them"
    );
}
