#!/usr/bin/python3
"""Static check of the compose stacks, beyond `docker-compose config -q`:
- every service has a health check (one-shot jobs, restart: "no", excepted), and every
  depends_on waits for service_healthy (or a one-shot job's successful end);
- every variable and secret handed to one of our services (images orthanc-share/<crate>) is a
  setting that crate knows (the names quoted in <crate>/src/**/settings*.rs);
- every file a stack mounts exists, and make-secrets.sh makes every secret file it references;
- images are pinned (no :latest, no missing tag) and files have no top-level name:/version:;
- each <crate>/Dockerfile.prebuilt has the same runtime stage as <crate>/Dockerfile.
Usage: minimal-setup/check-stacks.py [STACK_DIR...]   (default: every stack). Needs
docker-compose (or COMPOSE) and PyYAML (Debian: python3-yaml, which docker-compose brings)."""
import glob
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
    for path in glob.glob(os.path.join(REPO, crate, "src", "**", "settings*.rs"), recursive=True):
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
        result = subprocess.run(compose_command() + ["--profile", "*", "config"], cwd=stack_dir,
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            # docker-compose 1.29 has no --profile "*": fall back to the default profile.
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
