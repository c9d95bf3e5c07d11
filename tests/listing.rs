//! The listing API the share page browses with, and links signed on the server (S3 without
//! keys in the request): pages, prefixes and folders, UTF-8 names, and who is refused.

mod common;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "list-token-p1";
const TOKEN_P2: &str = "list-token-p2";

fn server() -> TestServer {
    // The first lines extend p2 (the base config's last project) with a container.
    TestServer::with_config(&format!(
        "  [[project.container]]\n  name = \"c\"\n[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p1\"]\n[[api_token]]\ntoken = \"{TOKEN_P2}\"\nprojects = [\"p2\"]\n"
    ))
}

/// GETs an API path; checks the envelope and returns the status and `data`.
fn get(s: &TestServer, target: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let r = s.request("GET", target, &headers);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert_eq!(v["code"], json!(r.status), "{v}");
    assert_eq!(v["success"], json!(r.status == 200), "{v}");
    if r.status != 200 {
        assert!(v["errorMsg"].is_string() && v["data"].is_null(), "{v}");
        return (r.status, v["errorMsg"].clone());
    }
    (r.status, v["data"].clone())
}

fn objects_url(project: &str, query: &str) -> String {
    format!("/api/v1/projects/{project}/containers/c/objects?{query}")
}

fn names(data: &Value) -> Vec<String> {
    data["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn objects_come_in_name_order_across_several_pages() {
    let s = server();
    let mut all: Vec<String> = (0..7).map(|i| format!("f{i}.txt")).collect();
    all.push("dir/inner.txt".into());
    for name in &all {
        s.put(PROJECT, "c", name, name.as_bytes());
    }
    all.sort();
    let mut seen = Vec::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let url = objects_url(PROJECT, &format!("limit=3&marker={}", encode_path(&marker)));
        let (status, data) = get(&s, &url, Some(TOKEN));
        assert_eq!(status, 200, "{data}");
        pages += 1;
        let page = names(&data);
        assert!(page.len() <= 3, "{data}");
        seen.extend(page);
        match data["nextMarker"].as_str() {
            Some(m) => marker = m.to_string(),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!((seen, pages), (all, 3));
    // Each object says what it is.
    let (_, data) = get(&s, &objects_url(PROJECT, "limit=1"), Some(TOKEN));
    let first = &data["objects"][0];
    assert_eq!(
        (&first["name"], &first["bytes"], &first["contentType"]),
        (
            &json!("dir/inner.txt"),
            &json!(13),
            &json!("text/plain; charset=utf-8")
        )
    );
    assert!(
        first["lastModified"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
}

#[test]
fn a_delimiter_rolls_folders_into_prefixes_and_a_prefix_opens_one() {
    let s = server();
    for name in ["top.txt", "docs/a.pdf", "docs/old/b.pdf", "pics/c.png"] {
        s.put(PROJECT, "c", name, b"x");
    }
    // An empty folder holds nothing to share, so it is no prefix.
    std::fs::create_dir_all(s.root().join("p1/c/empty")).unwrap();
    let (_, data) = get(&s, &objects_url(PROJECT, "delimiter=/"), Some(TOKEN));
    assert_eq!(names(&data), ["top.txt"]);
    assert_eq!(data["prefixes"], json!(["docs/", "pics/"]));
    assert_eq!(data["nextMarker"], Value::Null);
    let (_, data) = get(
        &s,
        &objects_url(PROJECT, "prefix=docs/&delimiter=/"),
        Some(TOKEN),
    );
    assert_eq!(names(&data), ["docs/a.pdf"]);
    assert_eq!(data["prefixes"], json!(["docs/old/"]));
    // Without a delimiter a prefix lists everything below it.
    let (_, data) = get(&s, &objects_url(PROJECT, "prefix=docs"), Some(TOKEN));
    assert_eq!(names(&data), ["docs/a.pdf", "docs/old/b.pdf"]);
    assert_eq!(data["prefixes"], json!([]));
}

#[test]
fn utf8_names_are_listed_and_found_by_a_utf8_prefix() {
    let s = server();
    let names_in = [
        "Báo cáo/tháng 11.pdf",
        "Báo cáo/Ảnh đẹp + mới.png",
        "Bao cao.txt",
    ];
    for name in names_in {
        s.put(PROJECT, "c", name, b"x");
    }
    let query = format!("prefix={}&delimiter=/", encode_path("Báo cáo/"));
    let (status, data) = get(&s, &objects_url(PROJECT, &query), Some(TOKEN));
    assert_eq!(status, 200, "{data}");
    assert_eq!(
        names(&data),
        ["Báo cáo/tháng 11.pdf", "Báo cáo/Ảnh đẹp + mới.png"]
    );
    let (_, data) = get(&s, &objects_url(PROJECT, "delimiter=/"), Some(TOKEN));
    assert_eq!(data["prefixes"], json!(["Báo cáo/"]));
    assert_eq!(names(&data), ["Bao cao.txt"]);
}

#[test]
fn another_projects_listing_is_refused() {
    let s = server();
    s.put("p2", "c", "theirs.txt", b"secret");
    let (status, msg) = get(&s, &objects_url("p2", ""), Some(TOKEN));
    assert_eq!(status, 403, "{msg}");
    // The project list names only the token's own projects.
    let (_, data) = get(&s, "/api/v1/projects", Some(TOKEN));
    assert_eq!(
        data,
        json!([{"id": "p1", "containers": [{"name": "c", "public": false}, {"name": "pub", "public": true}]}])
    );
}

#[test]
fn a_listing_without_a_valid_token_is_refused() {
    let s = server();
    s.put(PROJECT, "c", "a.txt", b"x");
    for token in [None, Some("not-a-token")] {
        for url in [objects_url(PROJECT, ""), "/api/v1/projects".to_string()] {
            let (status, msg) = get(&s, &url, token);
            assert_eq!(status, 401, "{url} {token:?}: {msg}");
        }
    }
}

#[test]
fn bad_listing_requests_say_what_is_wrong() {
    let s = server();
    for (query, status) in [
        ("limit=0", 400),
        ("limit=1001", 400),
        ("limit=-1", 400),
        ("limit=ten", 400),
        ("delimiter=-", 400),
        ("prefix=a&prefix=b", 400),
        ("prefix=%FF", 400),
        ("limit=1000", 200),
    ] {
        let (got, msg) = get(&s, &objects_url(PROJECT, query), Some(TOKEN));
        assert_eq!(got, status, "{query}: {msg}");
    }
    let (status, msg) = get(
        &s,
        "/api/v1/projects/p1/containers/nope/objects",
        Some(TOKEN),
    );
    assert_eq!((status, msg.is_string()), (404, true));
    let r = s.request(
        "POST",
        "/api/v1/projects",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 405, "{}", r.text());
}

fn post(s: &TestServer, object: &str, token: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let path = format!(
        "/api/v1/projects/{}/containers/c/objects/{}/download_tempurls",
        if token == TOKEN { "p1" } else { "p2" },
        encode_path(object)
    );
    let req = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", s.addr, body.len());
    let r = raw(s.addr, req.as_bytes());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    (r.status, v)
}

#[test]
fn an_s3_link_without_keys_is_signed_with_the_projects_first_key() {
    let s = server();
    s.put(PROJECT, "c", "Ảnh.png", b"PNG BYTES");
    let body = json!({"timeExpire": 600, "urlType": "s3", "viewMode": "download"});
    let (status, v) = post(&s, "Ảnh.png", TOKEN, &body);
    assert_eq!(status, 200, "{v}");
    let url = v["data"]["Ảnh.png"].as_str().unwrap();
    assert!(
        url.contains(&format!("X-Amz-Credential={ACCESS_KEY}")),
        "{url}"
    );
    let r = s.get(target_of(url));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"PNG BYTES".as_slice())
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
}

#[test]
fn s3_keys_are_both_given_or_neither_and_a_project_without_one_says_so() {
    let s = server();
    s.put(PROJECT, "c", "a.txt", b"x");
    s.put("p2", "c", "a.txt", b"x");
    let half = [
        json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view", "accessKey": ACCESS_KEY}),
        json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view", "secretKey": SECRET_KEY}),
        json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view", "accessKey": ACCESS_KEY, "secretKey": "wrong"}),
    ];
    for body in half {
        let (status, v) = post(&s, "a.txt", TOKEN, &body);
        assert_eq!(
            (status, v["success"].clone()),
            (400, json!(false)),
            "{body}: {v}"
        );
        assert!(!v.to_string().contains(SECRET_KEY), "{v}");
    }
    let body = json!({"timeExpire": 60, "urlType": "s3", "viewMode": "view"});
    let (status, v) = post(&s, "a.txt", TOKEN_P2, &body);
    assert_eq!(status, 400, "{v}");
    assert!(v["errorMsg"].as_str().unwrap().contains("no S3 key"), "{v}");
}

#[test]
fn a_project_with_any_container_lists_containers_the_config_does_not_name() {
    let s = TestServer::with_config(&format!(
        "[[project]]\nid = \"p3\"\nany_container = true\ntemp_url_keys = [\"k3\"]\n[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p3\"]\n"
    ));
    s.put("p3", "unlisted", "x.txt", b"x");
    let (status, data) = get(
        &s,
        "/api/v1/projects/p3/containers/unlisted/objects",
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{data}");
    assert_eq!(names(&data), ["x.txt"]);
    // A name that is no container (it would climb out of the project) is not found.
    let (status, _) = get(&s, "/api/v1/projects/p3/containers/../objects", Some(TOKEN));
    assert_eq!(status, 404);
}

#[test]
fn a_project_with_any_container_shows_the_folders_it_holds_among_its_containers() {
    let s = TestServer::with_config(&format!(
        "[[project]]\nid = \"p3\"\nany_container = true\ntemp_url_keys = [\"k3\"]\n  [[project.container]]\n  name = \"listed\"\n  public = true\n[[api_token]]\ntoken = \"{TOKEN}\"\nprojects = [\"p3\"]\n"
    ));
    s.put("p3", "unlisted", "x.txt", b"x");
    s.put("p3", "listed", "y.txt", b"y");
    let (status, data) = get(&s, "/api/v1/projects", Some(TOKEN));
    assert_eq!(status, 200, "{data}");
    let p3 = data
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "p3")
        .unwrap();
    let containers: Vec<(String, bool)> = p3["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["public"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        containers,
        [
            ("listed".to_string(), true),
            ("unlisted".to_string(), false)
        ]
    );
}
