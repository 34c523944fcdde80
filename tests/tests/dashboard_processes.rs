//! The dashboard with the real binaries: `jxc-hub user add --password-stdin`
//! and `user passwd`, then signing in over HTTPS to a running `serve` and
//! reading the overview an enrolled site appears on.

use jxc_e2e::{Hub, Site, browser};
use std::process::Stdio;

#[test]
fn a_user_added_with_a_password_signs_in_and_sees_every_site() {
    let hub = Hub::new();
    let out = hub.with_stdin(
        &[
            "user",
            "add",
            "王芳",
            "--role",
            "planner",
            "--password-stdin",
        ],
        "secret-密码-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .starts_with("jxch_")
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without a terminal or --password-stdin: the API token only, and said so.
    let out = hub
        .command(&["user", "add", "ops", "--role", "viewer"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("no dashboard password") && note.contains("user passwd ops"),
        "{note}"
    );
    let users = hub.json(&["user", "list"]);
    let can = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()["can_sign_in"]
            .clone()
    };
    assert_eq!(can("王芳"), true);
    assert_eq!(can("ops"), false);
    assert_eq!(
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "王芳")
            .unwrap()["role"],
        "planner"
    );

    // Bad input: one line naming the value, exit 3, nothing written.
    for (args, input, says) in [
        (
            vec!["user", "add", "x", "--role", "boss", "--password-stdin"],
            "secret-123\n",
            "role \"boss\" is not valid",
        ),
        (
            vec!["user", "passwd", "ops", "--password-stdin"],
            "short\n",
            "at least 8",
        ),
        (
            vec!["user", "passwd", "ops", "--password-stdin"],
            "\n",
            "password \"\" is not valid",
        ),
    ] {
        let out = hub.with_stdin(&args, input);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    let out = hub.with_stdin(
        &["user", "passwd", "nobody", "--password-stdin"],
        "secret-123\n",
    );
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(hub.json(&["user", "list"]).as_array().unwrap().len(), 3);

    let served = hub.start(None);
    let bj = Site::new("BJ01", &["main"]);
    let token = hub.token("BJ01", "branch");
    bj.ok(&["enroll", "--hub", &served.url, "--token", &token]);
    bj.ok(&["sync"]);

    let (rt, client) = browser(hub.ca_pem().as_bytes());
    let sign_in = |password: &str| {
        rt.block_on(async {
            let res = client
                .post(format!("{}/login", served.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("username=%E7%8E%8B%E8%8A%B3&password={password}"))
                .send()
                .await
                .unwrap();
            let cookie = res
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
            (res.status().as_u16(), cookie)
        })
    };
    let get = |path: &str, cookie: &str| {
        rt.block_on(async {
            let res = client
                .get(format!("{}{path}", served.url))
                .header("cookie", cookie)
                .header("accept-language", "zh-CN")
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        })
    };
    assert_eq!(sign_in("wrong-password").0, 401);
    let (status, cookie) = sign_in("secret-%E5%AF%86%E7%A0%81-1");
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    let (status, page) = get("/", &cookie);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<code class=\"site-id\">BJ01</code>"),
        "{page}"
    );
    assert!(page.contains("渠道库存") && page.contains("新鲜"), "{page}");

    // A new password signs out the browsers of the old one.
    let out = hub.with_stdin(
        &["user", "passwd", "王芳", "--password-stdin"],
        "another-secret-2\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get("/", &cookie).0, 303);
    assert_eq!(sign_in("another-secret-2").0, 303);
}
