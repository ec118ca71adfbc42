#!/usr/bin/python3
"""Static check of the compose stacks, beyond `docker-compose config -q`:
- every service has a health check (one-shot jobs, restart: "no", excepted), and every
  depends_on waits for service_healthy (or a one-shot job's successful end);
- every variable and secret handed to one of our services (images orthanc-share/<crate>) is a
  setting that crate knows (the names quoted in <crate>/src/**/*settings*.rs and
  <crate>/src/**/settings/*.rs);
- every file a stack mounts exists, and make-secrets.sh makes every secret file it references;
- images are pinned (no :latest, no missing tag) and files have no top-level name:/version:;
- each <crate>/Dockerfile.prebuilt has the same runtime stage as <crate>/Dockerfile;
- what a day-one deployment needs, each rule the lesson of a finding (issue 22), checked here
  because the smoke test runs on stand-ins and not on every stack:
  auth-service keeps its SQLite registry on a named volume, trusts X-Forwarded-For from the
  stack's fixed subnet only, gets a stop_grace_period covering its drain and shutdown hook, and
  leaves the cookie's Secure flag to nginx (derived from PUBLIC_URL); PostgreSQL health checks ask
  over TCP; an Orthanc whose authorization plugin judges requests is not probed by the image's
  /probes/test-aliveness.py; orthanc.json has no removed or misspelt OE2 keys, and OE2 shares by
  e-mail where auth-service sends e-mails; nginx refuses method overrides in every server that
  leads to an Orthanc, and a location with its own proxy_set_header / add_header includes the
  shared proxy headers / security headers; /share-api/ is off by default; a stack with published
  secrets listens on 127.0.0.1 by default; realm users' passwords are placeholders filled from
  generated secrets.
Usage: minimal-setup/check-stacks.py [STACK_DIR...]   (default: every stack). Needs
docker-compose (or COMPOSE) and PyYAML (Debian: python3-yaml, which docker-compose brings)."""
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUR_IMAGES = "orthanc-share/"
# Settings of features being built at the same time as the stacks (merged later): reported as
# PENDING, and an error as soon as the crate knows them, so this list cannot outlive its reason.
PENDING_SETTINGS = {}
errors = []
pending = []


def error(where, text):
    errors.append(f"{where}: {text}")


def known_settings(crate):
    names = set()
    src = os.path.join(REPO, crate, "src")
    paths = set(glob.glob(os.path.join(src, "**", "*settings*.rs"), recursive=True))
    paths |= set(glob.glob(os.path.join(src, "**", "settings", "*.rs"), recursive=True))
    for path in sorted(paths):
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', f.read()))
    return names


def compose_command():
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    try:
        subprocess.run(["docker", "compose", "version"], check=True, capture_output=True)
        return ["docker", "compose"]
    except (OSError, subprocess.CalledProcessError):
        return ["docker-compose"]


def check_stack(stack_dir):
    name = os.path.relpath(stack_dir, REPO)
    with open(os.path.join(stack_dir, "docker-compose.yml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    for key in ("name", "version"):
        if key in raw:
            error(name, f"top-level {key}: (docker-compose 1.29 or Compose v2 objects to it)")
    with tempfile.TemporaryDirectory() as secrets:
        env = dict(os.environ, SECRETS_DIR=secrets)
        maker = os.path.join(stack_dir, "make-secrets.sh")
        if os.path.isfile(maker):
            subprocess.run([maker], env=env, check=True, capture_output=True)
        else:
            # The demo ships its (published, labelled) secrets: check those.
            env.pop("SECRETS_DIR")
        # Every profile's services too (docker-compose 1.29 has no --profile "*").
        profiles = sorted({p for spec in raw["services"].values() for p in spec.get("profiles") or []})
        env["COMPOSE_PROFILES"] = ",".join(profiles)
        result = subprocess.run(compose_command() + ["config"], cwd=stack_dir, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            error(name, "compose config fails:\n" + result.stderr)
            return
        config = yaml.safe_load(result.stdout)
        for secret, spec in (config.get("secrets") or {}).items():
            path = spec.get("file")
            if path and not os.path.isfile(path):
                error(name, f"secret {secret}: {path} is not made by make-secrets.sh")
        deployment_rules(name, stack_dir, raw, config)
    for service, spec in config["services"].items():
        where = f"{name} service {service}"
        image = spec.get("image", "")
        if not re.search(r":[\w][\w.-]*$", image.split("/")[-1]) or image.endswith(":latest"):
            error(where, f"image {image!r} must carry a pinned tag")
        health = spec.get("healthcheck")
        one_shot = str(spec.get("restart", "")) == "no"
        if (not health or health.get("disable")) and not one_shot:
            error(where, "has no healthcheck")
        for dep, cond in (spec.get("depends_on") or {}).items():
            if cond.get("condition") not in ("service_healthy", "service_completed_successfully"):
                error(where, f"depends_on {dep} must wait for service_healthy")
        for volume in spec.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                source = volume["source"]
            elif isinstance(volume, str) and volume.split(":")[0].startswith(("/", ".")):
                source = volume.split(":")[0]
            else:
                continue
            if not os.path.exists(source):
                error(where, f"mounts {source}, which does not exist")
        if image.startswith(OUR_IMAGES):
            crate = image[len(OUR_IMAGES):].split(":")[0]
            if not os.path.isfile(os.path.join(REPO, crate, "Cargo.toml")):
                pending.append(f"{where}: crate {crate} not in this checkout yet")
                continue
            known = known_settings(crate)
            if not known:
                error(where, f"no settings found for crate {crate}")
                continue
            given = set((spec.get("environment") or {}).keys())
            for secret in spec.get("secrets") or []:
                given.add(secret.get("target") or secret["source"])
            waiting = PENDING_SETTINGS.get(crate, set())
            for variable in sorted(waiting & known):
                error("check-stacks.py", f"{crate} knows {variable} now: drop it from PENDING_SETTINGS")
            for variable in sorted(given - known):
                if variable in waiting:
                    pending.append(f"{where}: {variable} (not a setting of {crate} yet)")
                else:
                    error(where, f"{variable} is not a setting of {crate}")


def seconds(text, default=None):
    """A compose duration ("30s", "1m30s", "10") in seconds."""
    if text is None:
        return default
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|us|h|m|s)?", str(text)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "": 1}[unit or ""]
    return total


def volume_of(volume):
    """(source, target) of a volume entry in either form."""
    if isinstance(volume, dict):
        return volume.get("source", ""), volume.get("target", "")
    parts = volume.split(":")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def strip_jsonc(text):
    pattern = r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/'
    return re.sub(pattern, lambda m: m.group(1) or "", text, flags=re.S)


def mounted_orthanc_config(spec):
    """The JSON of the files a service mounts under /etc/orthanc/, merged shallowly."""
    merged = {}
    for volume in spec.get("volumes") or []:
        source, target = volume_of(volume)
        if target.startswith("/etc/orthanc/") and target.endswith(".json") and os.path.isfile(source):
            with open(source, encoding="utf-8") as f:
                merged.update(json.loads(strip_jsonc(f.read())))
    return merged


def deployment_rules(name, stack_dir, raw, config):
    services = config["services"]
    subnets = [c.get("subnet") for c in
               (((config.get("networks") or {}).get("default") or {}).get("ipam") or {}).get("config") or []]
    named_volumes = set((config.get("volumes") or {}).keys())
    env_file = os.path.join(stack_dir, ".env")
    dotenv = {}
    if os.path.isfile(env_file):
        with open(env_file, encoding="utf-8") as f:
            dotenv = dict(l.strip().split("=", 1) for l in f if "=" in l and not l.startswith("#"))
    for service, spec in services.items():
        where = f"{name} service {service}"
        env = spec.get("environment") or {}
        image = spec.get("image", "")
        test = spec.get("healthcheck", {}).get("test") or []
        test = " ".join(test) if isinstance(test, list) else str(test)
        if "pg_isready" in test and not re.search(r"(-h|--host)[ =]", test):
            error(where, "pg_isready without -h answers over the Unix socket, which the image's "
                         "first-start server already listens on: ask over TCP (-h 127.0.0.1)")
        if image.startswith(OUR_IMAGES + "auth-service:"):
            auth_service_rules(where, spec, env, subnets, named_volumes)
        if image.startswith("orthancteam/orthanc:"):
            orthanc_rules(where, spec, env, test, services)
        if "meddream-viewer" in image:
            entry = " ".join(spec.get("entrypoint") or []) + " ".join(spec.get("command") or [])
            if "docker-entrypoint" in entry:
                error(where, "replaces the image's entrypoint with a script path nobody verified; "
                             "give its settings as environment (env_file) instead")
    if not os.path.isfile(os.path.join(stack_dir, "make-secrets.sh")):
        if dotenv.get("HTTP_BIND") != "127.0.0.1":
            error(name, "publishes its secrets (no make-secrets.sh): HTTP_BIND must default to 127.0.0.1")
    elif "SHARE_API" in dotenv and dotenv["SHARE_API"] != "off":
        error(name, "SHARE_API must default to off: /share-api/ is published only when asked for")
    nginx_rules(name, services)
    realm_rules(name, stack_dir, services)


def auth_service_rules(where, spec, env, subnets, named_volumes):
    drain = seconds(env.get("SHUTDOWN_TIMEOUT_SECONDS"), 8.0)
    grace = seconds(spec.get("stop_grace_period"), 10.0)
    # The drain, then the shutdown hook bounded by the same time, then the process exit.
    if grace < 2 * drain + 5:
        error(where, f"stop_grace_period {grace:g} s does not cover the drain and the shutdown hook "
                     f"(2 x SHUTDOWN_TIMEOUT_SECONDS {drain:g} s + 5 s): the last use counts are lost")
    if "DATABASE_URL" not in [s.get("target") or s.get("source") for s in spec.get("secrets") or []] \
            and "DATABASE_URL" not in env:
        data_dir = env.get("DATA_DIR")
        on_volume = data_dir and any(
            source in named_volumes and (data_dir == target or data_dir.startswith(target.rstrip("/") + "/"))
            for source, target in map(volume_of, spec.get("volumes") or []))
        if not on_volume:
            error(where, "DATA_DIR (the SQLite share registry) must be set and on a named volume: a "
                         "recreated container forgets every revocation and use count")
    trusted = env.get("TRUSTED_PROXIES")
    if not trusted or not subnets or trusted not in subnets:
        error(where, "TRUSTED_PROXIES must be the stack network's fixed subnet (networks.default.ipam): "
                     "else every visitor behind nginx shares one failed-login bucket")
    if "ORTHANC_URL" in env and env.get("GATE_COOKIE_SECURE") != "false":
        error(where, "GATE_COOKIE_SECURE must be false: nginx adds Secure from PUBLIC_URL's scheme "
                     "(nginx/gate-cookie.conf); a Secure cookie is dropped on a plain-HTTP address")


def orthanc_rules(where, spec, env, test, services):
    orthanc = mounted_orthanc_config(spec)
    authorization = orthanc.get("Authorization") or {}
    judging = any(k in authorization for k in (
        "WebServiceRootUrl", "WebServiceTokenValidationUrl", "WebServiceUserProfileUrl"))
    if judging and "test-aliveness" in test:
        error(where, "the image's /probes/test-aliveness.py asks GET /changes without a token, which "
                     "the authorization plugin refuses: probe /system (left open by stone-webviewer)")
    oe2 = orthanc.get("OrthancExplorer2") or {}
    options = oe2.get("UiOptions") or {}
    for key, why in (("IsDefaultUI", "the key is IsDefaultOrthancUI"),
                     ("DefaultShareDuration", "OE2 1.11 reads ShareDuration"),
                     ("ShareDurations", "removed in OE2 1.11"),
                     ("EnablePermissionsEdition", "OE2 computes it from the user's permissions")):
        if key in oe2 or key in options:
            error(where, f"orthanc.json OrthancExplorer2 {key}: {why}")
    sends_emails = any(str((s.get("environment") or {}).get("ENABLE_EMAILS", "")).lower() == "true"
                       for s in services.values() if s.get("image", "").startswith(OUR_IMAGES + "auth-service:"))
    if oe2 and sends_emails:
        server = (oe2.get("Emails") or {}).get("Server") or {}
        if options.get("EnableSharesByEmail") is not True or "/emails/" not in server.get("Url", ""):
            error(where, "auth-service sends e-mails but OE2 does not offer them: UiOptions."
                         "EnableSharesByEmail and Emails.Server (Url .../emails/, Username, Password)")


def nginx_files(spec):
    """{container path: host path} of what the nginx service mounts (files and folders)."""
    mounts = {}
    for volume in spec.get("volumes") or []:
        source, target = volume_of(volume)
        if source.startswith("/"):
            mounts[target.rstrip("/")] = source
    return mounts


def resolve(path, mounts):
    for target, source in sorted(mounts.items(), key=lambda m: -len(m[0])):
        if path == target or path.startswith(target + "/"):
            return source + path[len(target):]
    return None


def nginx_blocks(text):
    """(kind, body) of each server and location block of an nginx file, bodies without their
    nested blocks."""
    blocks, stack = [], []
    for token in re.findall(r"\{|\}|[^{};]+;|[^{};]+(?=\{)", re.sub(r"#[^\n]*", "", text)):
        if token == "{":
            continue
        if token == "}":
            if stack:
                blocks.append(stack.pop())
            continue
        if not token.endswith(";"):
            stack.append((token.strip(), []))
        elif stack:
            stack[-1][1].append(token.strip())
    return blocks


def expand(lines, mounts, variables, seen=()):
    """The directives of a block with its includes inlined (secrets count as proxy_set_header)."""
    out = []
    for line in lines:
        m = re.match(r"include\s+(\S+);", line)
        if not m:
            out.append(line)
            continue
        path = re.sub(r"\$\{(\w+)\}", lambda v: variables.get(v.group(1), "off"), m.group(1))
        if path.startswith("/run/secrets/"):
            out.append("proxy_set_header Authorization <secret>;")
            continue
        host = resolve(path, mounts)
        if not host or not os.path.isfile(host) or host in seen:
            continue
        with open(host, encoding="utf-8") as f:
            text = f.read()
        if "{" in text:  # a file of whole locations: checked as blocks of its own
            out.append(f"# locations of {path}")
            continue
        out.extend(expand([t.strip() for t in re.findall(r"[^{};]+;", re.sub(r"#[^\n]*", "", text))],
                          mounts, variables, seen + (host,)))
    return out


def nginx_rules(name, services):
    nginx = next((s for s in services.values() if s.get("image", "").startswith("nginx:")), None)
    if not nginx:
        return
    mounts = nginx_files(nginx)
    variables = {k: str(v) for k, v in (nginx.get("environment") or {}).items()}
    files = []
    for target, source in mounts.items():
        if os.path.isdir(source):
            files += [(f"{target}/{f}", os.path.join(source, f)) for f in sorted(os.listdir(source))
                      if f.endswith((".conf", ".template"))]
        elif source.endswith((".conf", ".template")):
            files.append((target, source))
    for target, host in files:
        if host.endswith("share-gate.conf.template"):
            continue  # the gate's stand-alone sample, not part of a stack
        with open(host, encoding="utf-8") as f:
            text = f.read()
        for head, lines in nginx_blocks(text):
            body = expand(lines, mounts, variables)
            where = f"{name} nginx {os.path.basename(host)} {head}"
            if head == "server" and any(re.search(r"\$(orthanc|shares_orthanc)\b", l) for l in body + lines) \
                    and not any("refuse-method-override.conf" in l for l in lines):
                error(where, "leads to an Orthanc but does not include refuse-method-override.conf")
            if not head.startswith("location"):
                continue
            own_headers = [l for l in lines if l.startswith("proxy_set_header") or "/run/secrets/" in l]
            if own_headers and not any(l.startswith("proxy_set_header X-Forwarded-For") for l in body):
                error(where, "sets its own proxy_set_header, so it inherits none of the server's: "
                             "include proxy-headers.conf")
            if any(l.startswith("add_header") for l in lines) and not any(
                    l.startswith("add_header Strict-Transport-Security") for l in body):
                error(where, "sets its own add_header, so it inherits none of the server's (HSTS): "
                             "include security-headers.conf")


def realm_rules(name, stack_dir, services):
    for service, spec in services.items():
        for volume in spec.get("volumes") or []:
            source, target = volume_of(volume)
            if "/data/import/" not in target or not os.path.isfile(source):
                continue
            with open(source, encoding="utf-8") as f:
                realm = json.load(f)
            command = " ".join(spec.get("command") or [])
            for user in realm.get("users") or []:
                for credential in user.get("credentials") or []:
                    value = str(credential.get("value", ""))
                    m = re.fullmatch(r"\$\{(\w+)\}", value)
                    if not m:
                        error(f"{name} realm {os.path.basename(source)}",
                              f"user {user.get('username')} has a written password: use a placeholder "
                              "filled from a secret that make-secrets.sh generates")
                    elif f"{m.group(1)}=" not in command:
                        error(f"{name} service {service}",
                              f"exports no {m.group(1)} for the realm's placeholder")


def runtime_stage(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    stage = text.split(" AS runtime", 1)[1]
    # The binary and state folder come from elsewhere; everything else must match.
    return [l for l in stage.splitlines()
            if l.strip() and not l.startswith(("COPY", "#"))]


def check_dockerfiles():
    for prebuilt in glob.glob(os.path.join(REPO, "*", "Dockerfile.prebuilt")):
        real = prebuilt[: -len(".prebuilt")]
        if not os.path.isfile(real):
            error(prebuilt, "has no Dockerfile beside it")
        elif runtime_stage(real) != runtime_stage(prebuilt):
            error(prebuilt, f"runtime stage differs from {os.path.relpath(real, REPO)}")


def main():
    stacks = sys.argv[1:] or sorted(
        os.path.dirname(p) for p in glob.glob(os.path.join(HERE, "*", "docker-compose.yml")))
    stacks += sorted(os.path.dirname(p) for p in glob.glob(os.path.join(REPO, "demo-setup", "docker-compose.yml"))
                     if not sys.argv[1:])
    for stack in stacks:
        check_stack(os.path.abspath(stack))
    check_dockerfiles()
    for p in pending:
        print(f"check-stacks: PENDING {p}")
    for e in errors:
        print(f"check-stacks: {e}")
    print(f"check-stacks: {len(stacks)} stack(s), {len(errors)} problem(s), {len(pending)} pending")
    sys.exit(1 if errors else 0)


main()
