//! The answers every route shares, named once in the document's components, and the pass that
//! adds them where they apply: 401 and 429 on every route behind Basic auth (the credentials are
//! checked before anything else), 405 on every path (another method), 413 and 422 on every
//! route that reads a body, 400 on every route that reads a query. A route describes only the
//! statuses of its own.
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToResponse, ToSchema};

/// Either error body: for a status both kinds of refusal answer (a 404 of an unknown path and
/// one of a feature that is off).
pub struct AnyError;

impl PartialSchema for AnyError {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name("PythonError"))
            .item(Ref::from_schema_name("ErrorBody"))
            .into()
    }
}

impl ToSchema for AnyError {}

fn json_of(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn text_header(description: &str, pattern: Option<&str>) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(pattern),
        )
        .description(Some(description))
        .build()
}

/// A response named in the components, and how to build it.
macro_rules! shared_response {
    ($name:ident, $build:expr) => {
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), RefOr::T($build))
            }
        }
    };
}

shared_response!(
    Unauthorized,
    ResponseBuilder::new()
        .description(
            "No Basic credentials, or not those of a USERS account (`Not authenticated`, \
             `Incorrect username or password.`)",
        )
        .header("WWW-Authenticate", text_header("`Basic`", Some("^Basic$")))
        .content("application/json", json_of("PythonError"))
        .build()
);
shared_response!(
    TooManyRequests,
    ResponseBuilder::new()
        .description(
            "Too many wrong passwords from this client address (LOGIN_FAILURE_BURST): every \
             pair is refused until Retry-After, except those of users already logged in from \
             it.",
        )
        .header(
            "Retry-After",
            text_header("Seconds to wait", Some("^[0-9]+$")),
        )
        .content("application/json", json_of("ErrorBody"))
        .build()
);
shared_response!(
    MethodNotAllowed,
    ResponseBuilder::new()
        .description("A method this path does not take: Allow lists those it does")
        .header(
            "Allow",
            text_header("The methods of this path, e.g. `GET, PUT`", None),
        )
        .content("application/json", json_of("PythonError"))
        .build()
);
shared_response!(
    BodyTooLarge,
    ResponseBuilder::new()
        .description("A body past 1 MiB")
        .content("application/json", json_of("ErrorBody"))
        .build()
);
shared_response!(
    InvalidBody,
    ResponseBuilder::new()
        .description(
            "The body is not JSON, not a JSON object, declared with a non-JSON Content-Type, or \
             has a field of the wrong type (`invalid request body`, the detail names the field)",
        )
        .content("application/json", json_of("ErrorBody"))
        .build()
);

/// Adds the shared statuses to every operation that can answer them and lacks them.
pub fn complete(doc: &mut OpenApi) {
    let open = |op: &Operation| {
        op.security
            .as_ref()
            .is_some_and(|s| s.iter().all(|r| r == &Default::default()))
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let mut shared = vec![("405", "MethodNotAllowed")];
            if !open(op) {
                shared.extend([("401", "Unauthorized"), ("429", "TooManyRequests")]);
            }
            if op.request_body.is_some() {
                shared.extend([("413", "BodyTooLarge"), ("422", "InvalidBody")]);
            }
            let reads_query = op
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
            if reads_query && !op.responses.responses.contains_key("400") {
                op.responses.responses.insert(
                    "400".into(),
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(
                                "An argument this route does not take, one given twice, or \
                                 one not percent-encoded UTF-8 (`invalid query`)",
                            )
                            .content("application/json", json_of("ErrorBody"))
                            .build(),
                    ),
                );
            }
            for (status, name) in shared {
                op.responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
}
