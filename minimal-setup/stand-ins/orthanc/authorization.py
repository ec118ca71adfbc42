"""Stand-in for Orthanc's authorization plugin (orthanc-authorization 0.11), which Debian does not
package, run by Debian's Python plugin. The stand-in entrypoint loads it when the configuration has
an "Authorization" section, as the orthancteam image loads the real one. It does what our stacks
rely on, the way the plugin does it (Plugin/Plugin.cpp, DefaultConfiguration.json of 0.11.x):

- Token creation, PUT /auth/tokens/{type}: Orthanc's shape (ID, Resources [DicomUid, OrthancId,
  Level], ExpirationDate, ValidityDuration) to auth-service's (PUT {creation base}{type}), answered
  as {"Token", "Url"}.
- Only when a validation or user-profile URL is set (WebServiceRootUrl): the incoming-request
  filter, and GET /auth/user/profile.
  - A GET to an unchecked folder or resource of the StandardConfigurations passes
    (stone-webviewer: /stone-webviewer/ and /system; orthanc-explorer-2: /ui/app/, /ui/landing/,
    /, /ui/api/pre-login-configuration, /ui/api/configuration, /auth/user/profile; ohif: /ohif/;
    volview: /volview/).
  - Else each token of the request (TokenHttpHeaders, TokenGetArguments, and the headers the
    standard configurations add: Authorization, token) is turned into a user profile
    (POST /user/get-profile; none: the anonymous profile); a profile holding one of the
    permissions the route needs (a part of the plugin's default "Permissions" table, below) passes.
    Labels are simplified: a profile without "*" in its authorized labels is refused a resource
    route (the plugin compares the resource's labels).
  - Else, CheckedLevel "studies": the study the URI reaches is looked up and each token is put to
    POST /tokens/validate for it; a grant passes.
  - Everything else is refused (403), so GET /changes without a token is refused, as the real
    plugin refuses the orthancteam image's own probe.
Not stood in: the answer cache, labels filtering of lists, audit logs, /tools/find and the other
routes the plugin overrides, the "/dicom-web/studies" listing the plugin lets through with any
resource token (refused here)."""
import base64
import json
import re
import urllib.error
import urllib.request

import orthanc

CONFIG = json.loads(orthanc.GetConfiguration())
SECTION = CONFIG.get("Authorization") or {}
DICOM_WEB_ROOT = "/" + ((CONFIG.get("DicomWeb") or {}).get("Root") or "/dicom-web/").strip("/")


def url_of(name, path):
    root = SECTION.get("WebServiceRootUrl")
    if root:
        return root.rstrip("/") + path
    return SECTION.get(name)


VALIDATION_URL = url_of("WebServiceTokenValidationUrl", "/tokens/validate")
PROFILE_URL = url_of("WebServiceUserProfileUrl", "/user/get-profile")
CREATION_BASE = url_of("WebServiceTokenCreationBaseUrl", "/tokens/")
SERVER_ID = SECTION.get("WebServiceIdentifier")
CREDENTIALS = None
if SECTION.get("WebServiceUsername") and SECTION.get("WebServicePassword"):
    pair = f"{SECTION['WebServiceUsername']}:{SECTION['WebServicePassword']}"
    CREDENTIALS = "Basic " + base64.b64encode(pair.encode()).decode()

STANDARD = set(SECTION.get("StandardConfigurations") or [])
UNCHECKED_FOLDERS = list(SECTION.get("UncheckedFolders") or [])
UNCHECKED_RESOURCES = set(SECTION.get("UncheckedResources") or [])
TOKEN_HEADERS = list(SECTION.get("TokenHttpHeaders") or [])
TOKEN_ARGUMENTS = list(SECTION.get("TokenGetArguments") or [])
if "stone-webviewer" in STANDARD:
    UNCHECKED_FOLDERS.append("/stone-webviewer/")
    UNCHECKED_RESOURCES.add("/system")
    TOKEN_HEADERS.append("Authorization")
if "orthanc-explorer-2" in STANDARD:
    UNCHECKED_FOLDERS += ["/ui/app/", "/ui/landing/"]
    UNCHECKED_RESOURCES |= {"/", "/ui/api/pre-login-configuration", "/ui/api/configuration",
                            "/auth/user/profile"}
    TOKEN_HEADERS += ["Authorization", "token"]
    TOKEN_ARGUMENTS.append("token")
for viewer, folder in (("ohif", "/ohif/"), ("volview", "/volview/")):
    if viewer in STANDARD:
        UNCHECKED_FOLDERS.append(folder)
        TOKEN_HEADERS.append("Authorization")

ID = r"[a-f0-9-]+"
UID = r"[0-9.]+"
PUBLICATIONS = ("stone-viewer-publication|meddream-viewer-publication|osimis-viewer-publication|"
                "ohif-viewer-publication|volview-viewer-publication")
# (method, pattern, permissions, resource route): a part of the plugin's default table, first
# match wins; "" lets anyone through.
PERMISSIONS = [(m, re.compile(p.replace("DICOM_WEB_ROOT", DICOM_WEB_ROOT.strip("/"))), perms, resource)
               for m, p, perms, resource in [
    ("POST", r"^/tools/lookup$", "", False),
    ("POST", r"^/tools/find$", "all|view", True),
    ("GET", rf"^/(patients|studies|series|instances)/{ID}(/.*)?$", "all|view", True),
    ("GET", r"^/(patients|studies|series|instances)(|/)$", "all|view", True),
    ("GET", r"^/changes$", "all|view", False),
    ("GET", r"^/system$", "all|view", False),
    ("GET", r"^/statistics$", "all|view", False),
    ("GET", rf"^/DICOM_WEB_ROOT/studies/{UID}(/.*)?$", "all|view", True),
    ("GET", r"^/DICOM_WEB_ROOT/(studies|series|instances)(|/)$", "all|view", True),
    ("GET", r"^/wado$", "all|view", True),
    ("PUT", r"^/auth/tokens/(viewer-instant-link|meddream-instant-link)$", "all|view", False),
    ("PUT", r"^/auth/tokens/(download-instant-link)$", "all|download", False),
    ("PUT", rf"^/auth/tokens/({PUBLICATIONS})$", "all|share", False),
    ("POST", r"^/instances$", "all|upload", False),
    ("POST", r"^/tools/create-dicom$", "all|upload", False),
    ("DELETE", rf"^/(patients|studies|series|instances)/{ID}$", "all|delete", True),
]]
METHODS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE"}


def call(method, url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    if CREDENTIALS:
        request.add_header("Authorization", CREDENTIALS)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError) as e:
        # The plugin answers 403 when the service fails; the reason goes to Orthanc's log.
        print(f"authorization stand-in: {method} {url}: {e}", flush=True)
        return None


def tokens_of(headers, arguments):
    found = []
    for name in dict.fromkeys(TOKEN_HEADERS):
        if name.lower() in headers:
            found.append((name, headers[name.lower()]))
    for name in dict.fromkeys(TOKEN_ARGUMENTS):
        if name in arguments:
            found.append((name, arguments[name]))
    return found


def profile_of(key, value):
    if not PROFILE_URL:
        return None
    return call("POST", PROFILE_URL, {"server-id": SERVER_ID, "token-key": key, "token-value": value})


def study_of(uri, arguments):
    """(dicom-uid, orthanc-id) of the study the URI reaches, or None."""
    def rest(path):
        try:
            return json.loads(orthanc.RestApiGet(path))
        except Exception:  # unknown resource
            return None

    def by_uid(uid):
        try:
            found = json.loads(orthanc.RestApiPost("/tools/lookup", uid))
        except Exception:
            return None
        for item in found or []:
            if item.get("Type") == "Study":
                return uid, item["ID"]
            if item.get("Type") in ("Series", "Instance"):
                return by_id(item["Type"].lower() + ("" if item["Type"] == "Series" else "s"), item["ID"])
        return None

    def by_id(collection, resource):
        while collection in ("instances", "series"):
            info = rest(f"/{collection}/{resource}")
            if not info:
                return None
            collection, resource = ("series", info["ParentSeries"]) if collection == "instances" \
                else ("studies", info["ParentStudy"])
        if collection != "studies":
            return None
        info = rest(f"/studies/{resource}")
        return (info["MainDicomTags"]["StudyInstanceUID"], resource) if info else None

    m = re.match(rf"^/(studies|series|instances)/({ID})(/.*)?$", uri)
    if m:
        return by_id(m.group(1), m.group(2))
    m = re.match(rf"^{re.escape(DICOM_WEB_ROOT)}/studies/({UID})(/.*)?$", uri)
    if m:
        return by_uid(m.group(1))
    if re.match(rf"^{re.escape(DICOM_WEB_ROOT)}/(studies|series|instances)/?$", uri):
        uid = arguments.get("0020000D") or arguments.get("StudyInstanceUID")
        return by_uid(uid) if uid else None
    if uri == "/wado" and arguments.get("objectUID"):
        return by_uid(arguments["objectUID"])
    return None


def granted(uri, method, headers, arguments):
    if method == "GET" and (uri in UNCHECKED_RESOURCES or any(uri.startswith(f) for f in UNCHECKED_FOLDERS)):
        return True
    tokens = tokens_of(headers, arguments)
    rule = next((r for r in PERMISSIONS if r[0] == method and r[1].match(uri)), None)
    if rule and PROFILE_URL:
        _, _, needed, resource = rule
        if needed == "":
            return True
        for key, value in tokens or [("", "")]:
            profile = profile_of(key, value) or {}
            if set(needed.split("|")) & set(profile.get("permissions") or []):
                if not resource or "*" in (profile.get("authorized-labels") or []):
                    return True
                return False
    if VALIDATION_URL and tokens:
        study = study_of(uri, arguments)
        if study:
            for key, value in tokens:
                answer = call("POST", VALIDATION_URL, {
                    "dicom-uid": study[0], "orthanc-id": study[1], "level": "study",
                    "method": method.lower(), "server-id": SERVER_ID,
                    "token-key": key, "token-value": value})
                if answer and answer.get("granted") is True:
                    return True
    return False


def on_request(uri, **request):
    method = METHODS.get(request.get("method"), "OTHER")
    return granted(uri, method, request.get("headers") or {}, request.get("get") or {})


def user_profile(output, uri, **request):
    tokens = tokens_of(request.get("headers") or {}, request.get("get") or {})
    key, value = tokens[0] if tokens else ("Authorization", "")
    profile = profile_of(key, value)
    if profile is None:
        output.SendHttpStatusCode(503)
        return
    output.AnswerBuffer(json.dumps(profile), "application/json")


def create_token(output, uri, **request):
    if request.get("method") != "PUT":
        output.SendMethodNotAllowed("PUT")
        return
    body = json.loads(request.get("body") or b"{}")
    token_type = request["groups"][0]
    resources = [{"dicom-uid": r.get("DicomUid"), "orthanc-id": r.get("OrthancId"),
                  "url": r.get("Url"), "level": r.get("Level")} for r in body.get("Resources") or []]
    payload = {"id": body.get("ID"), "resources": resources, "type": token_type,
               "expiration-date": body.get("ExpirationDate"), "server-id": SERVER_ID}
    if "ValidityDuration" in body:
        payload["validity-duration"] = body["ValidityDuration"]
    created = call("PUT", CREATION_BASE.rstrip("/") + "/" + token_type, payload)
    if not created:
        output.SendHttpStatusCode(503)
        return
    output.AnswerBuffer(json.dumps({"Token": created.get("token"), "Url": created.get("url")}),
                        "application/json")


if CREATION_BASE:
    orthanc.RegisterRestCallback("/auth/tokens/(.*)", create_token)
if VALIDATION_URL or PROFILE_URL:
    if PROFILE_URL:
        orthanc.RegisterRestCallback("/auth/user/profile", user_profile)
    orthanc.RegisterIncomingHttpRequestFilter(on_request)
print(f"authorization stand-in: creation {bool(CREATION_BASE)}, validation {bool(VALIDATION_URL)}, "
      f"profiles {bool(PROFILE_URL)}, unchecked {sorted(UNCHECKED_RESOURCES)} {UNCHECKED_FOLDERS}",
      flush=True)
