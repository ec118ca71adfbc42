"""Stand-in for the orthancteam/orthanc start script: builds /tmp/orthanc.json as that image does
for the parts our stacks use, then runs Debian's Orthanc on it.

Sources, later ones winning: image defaults, every /etc/orthanc/*.json (comments allowed),
ORTHANC_JSON, then ORTHANC__SECTION__KEY variables and Docker secrets of that name
(ORTHANC__REGISTERED_USERS -> "RegisteredUsers"; a value that parses as JSON is JSON).

Plugins: DICOMweb (Debian's). The authorization plugin (an "Authorization" section or
AUTHORIZATION_PLUGIN_ENABLED=true) is stood in by authorization.py, run by Debian's Python plugin.
Stone (STONE_WEB_VIEWER_PLUGIN_ENABLED=true) and VolView (VOLVIEW_PLUGIN_ENABLED=true) are stood in
by pages at /stone-webviewer/ and /volview/ that make the viewer's requests
(stone-webviewer/index.html, volview/index.html), served by Debian's ServeFolders plugin."""
import glob
import json
import os
import re
import sys

CONFIG = "/tmp/orthanc.json"
PLUGINS = {"DicomWeb": ("DICOM_WEB_PLUGIN_ENABLED", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so")}
PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
SERVE_FOLDERS_PLUGIN = "/usr/share/orthanc/plugins/libServeFolders.so"
STAND_INS = "/stand-ins"
# Viewers stood in by a page making their requests, served by ServeFolders at the viewer's path.
VIEWERS = {"stone-webviewer": "STONE_WEB_VIEWER_PLUGIN_ENABLED", "volview": "VOLVIEW_PLUGIN_ENABLED"}
UNAVAILABLE = ["OrthancExplorer2", "OHIF", "PostgreSQL"]


def strip_comments(text):
    # Orthanc's JSON allows // and /* */ comments; keep string contents intact.
    pattern = r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/'
    return re.sub(pattern, lambda m: m.group(1) or "", text, flags=re.S)


def merge(into, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def camel(name):
    return "".join(part.capitalize() for part in name.lower().split("_"))


def value_of(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main():
    config = {
        "Name": "Orthanc",
        "StorageDirectory": "/var/lib/orthanc/db",
        "IndexDirectory": "/var/lib/orthanc/db",
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "HttpPort": 8042,
        "DicomPort": 4242,
    }
    for path in sorted(glob.glob("/etc/orthanc/*.json")):
        with open(path, encoding="utf-8") as f:
            merge(config, json.loads(strip_comments(f.read())))
    if os.environ.get("ORTHANC_JSON"):
        merge(config, json.loads(strip_comments(os.environ["ORTHANC_JSON"])))
    settings = {k: v for k, v in os.environ.items() if k.startswith("ORTHANC__")}
    for path in glob.glob("/run/secrets/ORTHANC__*"):
        with open(path, encoding="utf-8") as f:
            settings[os.path.basename(path)] = f.read().strip()
    for name, text in sorted(settings.items()):
        keys = [camel(part) for part in name[len("ORTHANC__"):].split("__")]
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value_of(text)
    plugins = []
    for section, (variable, library) in PLUGINS.items():
        if section in config or os.environ.get(variable) == "true":
            plugins.append(library)
    if "Authorization" in config or os.environ.get("AUTHORIZATION_PLUGIN_ENABLED") == "true":
        plugins.append(PYTHON_PLUGIN)
        config["PythonScript"] = f"{STAND_INS}/authorization.py"
    folders = {f"/{viewer}": f"{STAND_INS}/{viewer}" for viewer, variable in VIEWERS.items()
               if os.environ.get(variable) == "true"}
    if folders:
        plugins.append(SERVE_FOLDERS_PLUGIN)
        config["ServeFolders"] = folders
    config["Plugins"] = plugins
    for section in UNAVAILABLE:
        if section in config:
            print(f"orthanc stand-in: no {section} plugin in Debian, section ignored", flush=True)
    if os.environ.get("OHIF_PLUGIN_ENABLED") == "true":
        print("orthanc stand-in: no OHIF plugin in Debian, /ohif/ answers 404", flush=True)
    with open(CONFIG, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    os.execvp("Orthanc", ["Orthanc", CONFIG] + sys.argv[1:])


main()
