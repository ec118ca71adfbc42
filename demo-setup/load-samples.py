"""Demo loader: run once at `docker compose up`, after Orthanc and auth-service are healthy.
Stores three sample studies (images drawn here, made into DICOM by Orthanc's
/tools/create-dicom), unless they are already there, then creates a share link for the first
one and prints it. Uses only the Python standard library."""
import base64
import json
import os
import struct
import sys
import urllib.request
import zlib

ORTHANC = "http://orthanc:8042"
AUTH_SERVICE = "http://auth-service:8000"
PUBLIC_URL = os.environ["PUBLIC_URL"].rstrip("/")


def secret(name):
    with open(f"/run/secrets/{name}", encoding="utf-8") as f:
        return f.read().strip()


def call(method, url, user, password, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def png(width, height, shade):
    """A grey gradient with a bright disc: enough to see that the viewer shows pixels."""
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            disc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (width / 4) ** 2
            row.append(255 if disc else (x * shade // width) % 256)
        rows += bytes(row)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main():
    admin = ("admin", secret("admin-password"))
    samples = [("DEMO-1", "Demo^Alice", "CT"), ("DEMO-2", "Demo^Bob", "MR"), ("DEMO-3", "Demo^Carol", "CR")]
    studies = []
    for patient_id, name, modality in samples:
        found = call("POST", f"{ORTHANC}/tools/find", *admin,
                     {"Level": "Study", "Query": {"PatientID": patient_id}})
        if found:
            studies.append(found[0])
            continue
        image = base64.b64encode(png(256, 256, 200 + len(studies) * 20)).decode()
        created = call("POST", f"{ORTHANC}/tools/create-dicom", *admin, {
            "Tags": {"PatientID": patient_id, "PatientName": name, "Modality": modality,
                     "StudyDescription": f"Demo study {patient_id}"},
            "Content": f"data:image/png;base64,{image}",
        })
        study = call("GET", f"{ORTHANC}/instances/{created['ID']}/study", *admin)
        studies.append(study["ID"])
        print(f"stored sample study {patient_id} ({modality})", flush=True)
    first = call("GET", f"{ORTHANC}/studies/{studies[0]}", *admin)
    share = call("PUT", f"{AUTH_SERVICE}/tokens/stone-viewer-publication", "share-user",
                 secret("share-user-password"), {
                     "id": "demo", "type": "stone-viewer-publication", "expiration-date": None,
                     "resources": [{"dicom-uid": first["MainDicomTags"]["StudyInstanceUID"],
                                    "orthanc-id": studies[0], "level": "study"}]})
    print(f"demo ready: {len(studies)} studies. A share link of DEMO-1 (opens without login):", flush=True)
    print(f"  {share['url']}", flush=True)
    print(f"OE2: {PUBLIC_URL}/orthanc/ui/app/ (user admin, password in demo-secrets/admin-password)",
          flush=True)


try:
    main()
except Exception as e:  # one clear line, and a failed start the compose status shows
    print(f"demo loader failed: {e}", file=sys.stderr)
    sys.exit(1)
