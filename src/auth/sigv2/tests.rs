//! V2 vectors made by botocore (`signature_version='s3'`, clock fixed at 20130524T000000Z).

use super::*;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn b64(sig: [u8; 20]) -> String {
    STANDARD.encode(sig)
}

#[test]
fn botocore_v2_vector_plain_key() {
    let sts = StringToSign {
        method: "GET",
        content_md5: "",
        content_type: "",
        expires: "1369440000",
        amz_headers: "",
        resource: "/examplebucket/test.txt",
    };
    assert_eq!(sts.text(), "GET\n\n\n1369440000\n/examplebucket/test.txt");
    assert_eq!(
        b64(signature(SECRET, &sts.text())),
        "9yqNWMOTdBFkNuezE9j+Gyrt4Z8="
    );
}

#[test]
fn botocore_v2_vector_utf8_key_with_a_signed_disposition() {
    let resource = canonical_resource(
        "/examplebucket/Ti%E1%BA%BFng%20Vi%E1%BB%87t/a%2Bb%3Dc~.txt",
        "response-content-disposition=attachment%3B%20filename%3D%22x%20y.txt%22&AWSAccessKeyId=AK&Signature=x&Expires=1",
    );
    assert_eq!(resource, "/examplebucket/Ti%E1%BA%BFng%20Vi%E1%BB%87t/a%2Bb%3Dc~.txt?response-content-disposition=attachment; filename=\"x y.txt\"");
    let sts = StringToSign {
        method: "GET",
        content_md5: "",
        content_type: "",
        expires: "1369357200",
        amz_headers: "",
        resource: &resource,
    };
    assert_eq!(
        b64(signature(SECRET, &sts.text())),
        "aaGONXgkvCq5Uwt9FXQAdtYcRo8="
    );
}

#[test]
fn presign_makes_the_botocore_urls_in_path_and_virtual_style() {
    let p = Presign {
        path: "/examplebucket/test.txt",
        virtual_bucket: None,
        access_key: AK,
        secret: SECRET,
        expires: 1_369_440_000,
        params: &[],
    };
    assert_eq!(
        p.path_and_query(),
        "/examplebucket/test.txt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369440000&Signature=9yqNWMOTdBFkNuezE9j%2BGyrt4Z8%3D"
    );
    let disposition = [(
        "response-content-disposition",
        "attachment; filename=\"x y.txt\"",
    )];
    let p = Presign {
        path: "/Tiếng Việt/a+b=c~.txt",
        virtual_bucket: Some("examplebucket"),
        access_key: AK,
        secret: SECRET,
        expires: 1_369_357_200,
        params: &disposition,
    };
    assert_eq!(
        p.path_and_query(),
        "/Ti%E1%BA%BFng%20Vi%E1%BB%87t/a%2Bb%3Dc~.txt?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369357200&Signature=aaGONXgkvCq5Uwt9FXQAdtYcRo8%3D&response-content-disposition=attachment%3B%20filename%3D%22x%20y.txt%22"
    );
}

#[test]
fn only_sub_resources_and_response_overrides_are_signed_sorted_by_name() {
    assert_eq!(
        canonical_resource("/b/k", "x-id=GetObject&content-type=&response-content-type=text%2Fplain&versionId=3&acl&response-cache-control=no-store"),
        "/b/k?acl&response-cache-control=no-store&response-content-type=text/plain&versionId=3"
    );
    assert_eq!(canonical_resource("/b/k", ""), "/b/k");
}

#[test]
fn the_signed_parameter_list_is_sorted_for_binary_search() {
    assert!(SIGNED_PARAMS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn signatures_survive_form_decoding_of_plus() {
    let want = decode_signature("9yqNWMOTdBFkNuezE9j+Gyrt4Z8=");
    assert!(want.is_some());
    // A raw '+' in the query arrives here as a space.
    assert_eq!(decode_signature("9yqNWMOTdBFkNuezE9j Gyrt4Z8="), want);
    // One spelling only, as AWS compares the text: no dropped padding, no stray spaces.
    assert_eq!(decode_signature("9yqNWMOTdBFkNuezE9j+Gyrt4Z8"), None);
    assert_eq!(decode_signature(" 9yqNWMOTdBFkNuezE9j+Gyrt4Z8="), None);
    assert_eq!(decode_signature("not base64!"), None);
    assert_eq!(decode_signature("AAAA"), None);
}

#[test]
fn a_raw_plus_in_a_signed_override_is_read_as_the_space_it_will_be_served_as() {
    // The override served is form-decoded ("a b"), so the canonical resource must be too:
    // `a%2Bb` signed cannot be replayed as `a+b` to serve a different value.
    assert_eq!(
        canonical_resource("/b/k", "response-content-type=a+b"),
        "/b/k?response-content-type=a b"
    );
    assert_eq!(
        canonical_resource("/b/k", "response-content-type=a%2Bb"),
        "/b/k?response-content-type=a+b"
    );
}

#[test]
fn signature_is_hmac_sha1_as_rfc_2202_has_it() {
    for c in &crate::mac::vectors::HMAC_SHA1 {
        // A V2 secret and string to sign are text; the RFC's binary key is covered by swift.
        let (Ok(key), Ok(data)) = (std::str::from_utf8(c.key), std::str::from_utf8(c.data)) else {
            continue;
        };
        assert_eq!(const_hex::encode(signature(key, data)), c.hex);
    }
}

#[test]
fn a_signed_parameter_is_signed_under_its_decoded_name_however_it_is_spelled() {
    // The override reader decodes names, so the string to sign must too: an encoded
    // `response-*` name added to a link is signed (and so refused), never applied unsigned.
    assert_eq!(
        canonical_resource("/b/k", "response%2Dcontent%2Dtype=text%2Fhtml"),
        "/b/k?response-content-type=text/html"
    );
    assert_eq!(
        canonical_resource("/b/k", "%72esponse-cache-control=x&version%49d=1"),
        "/b/k?response-cache-control=x&versionId=1"
    );
    // A name that does not decode to UTF-8 is nothing anyone reads.
    assert_eq!(canonical_resource("/b/k", "acl%FF=1"), "/b/k");
}

#[test]
fn the_three_parameters_are_read_once_each_decoded_and_refused_in_order() {
    let read = |raw: &str| match query_params(&Query::new(raw)) {
        Ok(values) => Ok(values.map(|v| v.into_owned())),
        Err(e) => Err((e.code, e.message)),
    };
    assert_eq!(
        read("AWSAccessKeyId=AK&x=1&%45xpires=12&Signature=a%2Bb+c"),
        Ok(["AK".into(), "12".into(), "a+b c".into()])
    );
    let refused = |message: &str| Err(("AuthorizationQueryParametersError", message.to_string()));
    assert_eq!(
        read("AWSAccessKeyId=AK&Expires=1&Expires=2&Signature=s"),
        refused("Expires must appear only once.")
    );
    for raw in [
        "AWSAccessKeyId=AK&Expires=1",
        "AWSAccessKeyId=%FF&Expires=1&Signature=s",
        // The access key is looked at first: its absence, not the repeated signature.
        "Expires=1&Signature=s&Signature=t",
    ] {
        assert_eq!(read(raw), refused(QUERY_PARAMS_REQUIRED), "{raw}");
    }
}
