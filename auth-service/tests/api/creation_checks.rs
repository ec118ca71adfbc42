//! What creation refuses so that no share becomes a dead or dangerous link: ids that are not
//! DICOM UIDs or Orthanc ids, dates past what Python can hold, publications whose links no proxy
//! or browser passes.
use serde_json::{json, Value};

use crate::helpers::{assert_no_token_in, spawn_app};

const ORTHANC: &str = "https://pacs.example.test/orthanc/";
const LANDING: &str = "https://pacs.example.test/share/";
const OID: &str = "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f";

fn one(resource: Value) -> Value {
    json!({"resources": [resource]})
}

#[tokio::test]
async fn ids_that_are_not_dicom_uids_or_orthanc_ids_are_refused_naming_the_field() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", ORTHANC)]).await;
    let long = "1.".repeat(1500);
    let bad_uids = [
        "\"><script>",
        "1.2,3.4",
        "1.2\u{0}",
        &long,
        "..",
        "1.2/../3",
        "1.2%2C3",
    ];
    for uid in bad_uids {
        let (status, answer) = app
            .create(
                "stone-viewer-publication",
                &one(json!({"dicom-uid": uid, "level": "study"})),
            )
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid resource id")),
            "{uid:?}: {answer}"
        );
        let detail = answer["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("resources[0].dicom-uid: not a DICOM UID"),
            "{detail}"
        );
        assert!(
            !detail.contains("script"),
            "the detail echoes the value: {detail}"
        );
    }
    for oid in [
        "o000",
        "..",
        "6B1F3E2A-0C5D7E88-1A2B3C4D-5E6F7A8B-9C0D1E2F",
        &format!("{OID},{OID}"),
    ] {
        let (status, answer) = app
            .create(
                "download-instant-link",
                &json!({"resources": [{"orthanc-id": OID, "level": "study"}, {"orthanc-id": oid, "level": "series"}]}),
            )
            .await;
        assert_eq!(status, 400, "{oid:?}: {answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .starts_with("resources[1].orthanc-id: not an Orthanc id"),
            "{answer}"
        );
    }
    // What is fine: real ids, a PatientID at patient level, and empty ids (no id), as in Python.
    for resource in [
        json!({"dicom-uid": "1.2.840.113619.2.55.3.604688119.971.1", "orthanc-id": OID, "level": "study"}),
        json!({"dicom-uid": "PAT^0042 (ward 3)", "level": "patient"}),
        json!({"dicom-uid": "", "orthanc-id": "", "level": "study"}),
    ] {
        let (status, answer) = app
            .create("download-instant-link", &one(resource.clone()))
            .await;
        assert_eq!(status, 200, "{resource}: {answer}");
    }
}

#[tokio::test]
async fn dates_past_the_year_9999_are_refused_at_creation() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", ORTHANC)]).await;
    let study = json!({"dicom-uid": "1.2.3", "level": "study"});
    // A number this large is read as milliseconds (as pydantic does): the year 14645.
    for date in [json!(400_000_000_000_000_i64), json!("400000000000000")] {
        let (status, answer) = app
            .create(
                "stone-viewer-publication",
                &json!({"resources": [study], "expiration-date": date}),
            )
            .await;
        assert_eq!(status, 422, "{date}: {answer}");
        assert_eq!(
            answer["detail"],
            "expiration-date: must fall between the years 1 and 9999"
        );
    }
    let (status, answer) = app
        .create(
            "stone-viewer-publication",
            &json!({"resources": [study], "expiration-date": "9999-12-31T23:59:59+00:00"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["token"].as_str().unwrap();
    assert_eq!(
        app.decode(token).await["error-code"],
        Value::Null,
        "the last day is readable"
    );
}

fn studies(n: usize) -> Value {
    // UIDs of the full 64 characters: the largest a share of n studies can be.
    let resources: Vec<Value> = (0..n)
        .map(|i| json!({"dicom-uid": format!("1.2.826.0.1.3680043.8.498.{:0>38}", i), "level": "study"}))
        .collect();
    json!({"resources": resources, "expiration-date": "2099-12-31T23:59:59Z"})
}

#[tokio::test]
async fn a_publication_whose_links_would_be_too_long_is_refused_and_the_largest_that_fits_opens() {
    let app = spawn_app(&[
        ("PUBLIC_ORTHANC_ROOT", ORTHANC),
        ("PUBLIC_LANDING_ROOT", LANDING),
    ])
    .await;
    assert_eq!(
        "1.2.826.0.1.3680043.8.498.00000000000000000000000000000000000001".len(),
        64
    );
    // The largest Stone publication that is accepted, and one study more.
    let mut n = 1;
    loop {
        let (status, answer) = app
            .create("stone-viewer-publication", &studies(n + 1))
            .await;
        if status != 200 {
            assert_eq!(
                (status, answer["error"].as_str()),
                (400, Some("share too large")),
                "{answer}"
            );
            let detail = answer["detail"].as_str().unwrap();
            assert!(detail.contains("more than the 8000"), "{detail}");
            assert_no_token_in(status, &answer);
            break;
        }
        n += 1;
        assert!(n < 200, "a share of {n} studies was accepted");
    }
    let (status, answer) = app.create("stone-viewer-publication", &studies(n)).await;
    assert_eq!(status, 200);
    let token = answer["token"].as_str().unwrap();
    let landing_link = answer["url"].as_str().unwrap();
    let viewer = app.decode(token).await["redirect-url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(landing_link.len() <= 8000 && viewer.len() <= 8000);
    // The viewer link holds the UIDs twice besides the token: it is the one that binds.
    assert!(
        viewer.len() > 8000 - 300,
        "{} studies, a viewer link of {} bytes",
        n,
        viewer.len()
    );
    // Instant links are handed to programs, not opened from a link: no limit, as in Python.
    let (status, _) = app.create("download-instant-link", &studies(200)).await;
    assert_eq!(status, 200);
}
