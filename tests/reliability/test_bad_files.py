"""Bad files through `rag ingest` and a damaged corpus: a message naming the file, exit 2, and the
index and corpus exactly as they were."""

from __future__ import annotations

import io
import json

import pytest

from rag.index import load_index

GOOD = "A new article about fisheries near Kunashir and the Kuril Islands, north of Hokkaido. " * 5


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(200, 200)
    writer.write(out)
    return out.getvalue()


FILES = {
    "empty.txt": (b"", "file is empty"),
    "blank.md": (b" \n\t\n", "file is empty"),
    "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "looks like a binary file"),
    "latin1.txt": ("Les îles Kouriles, été 1956. ".encode("latin-1") * 20, "not valid UTF-8 text"),
    "utf16.txt": (("The Kuril Islands dispute. " * 20).encode("utf-16"), "looks like a binary file"),
    "broken.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "cannot read PDF"),
    "empty.pdf": (b"", "cannot read PDF"),
    "blank.pdf": (blank_pdf(), "no readable text found"),
    "tags.html": (b"<html><body><script>alert(1)</script></body></html>", "no readable text found"),
    "image.png": (b"\x89PNG\r\n", "unsupported file type .png"),
}


def snapshot(ws) -> tuple[dict, dict]:
    return load_index(ws.index).manifest, {p.name: p.read_bytes() for p in ws.corpus.iterdir()}


def refused(ws, *argv, script: str | None = None):
    before = snapshot(ws)
    proc = ws.run("ingest", *argv, script=script)
    assert proc.returncode == 2
    assert snapshot(ws) == before  # all-or-nothing: the good file next to it was not added either
    message = proc.stderr.decode()
    assert message.startswith("error: ") and message.rstrip().endswith("(nothing was added; the index is unchanged)")
    return message


@pytest.mark.parametrize("name", FILES)
def test_bad_file_is_named_and_changes_nothing(built, name):
    data, reason = FILES[name]
    (built.root / "good.txt").write_text(GOOD)
    (built.root / name).write_bytes(data)
    message = refused(built, str(built.root / "good.txt"), str(built.root / name))
    assert f"{built.root / name}: {reason}" in message


@pytest.mark.parametrize("error, hint", [("EACCES", "(Permission denied); check its permissions"),
                                         ("EIO", "(Input/output error); the file or the disk may be damaged")])
def test_unreadable_file_is_named(built, error, hint):
    # Tests run as root in CI, where chmod 000 does not stop a read: the refusal is the kernel's answer, simulated.
    script = f"""
import errno, os, pathlib, sys
real = pathlib.Path.read_bytes
def read_bytes(self):
    if self.name == "locked.txt":
        raise OSError(errno.{error}, os.strerror(errno.{error}), str(self))
    return real(self)
pathlib.Path.read_bytes = read_bytes
from shells.cli import full_app

app = full_app()
app(sys.argv[1:])
"""
    (built.root / "locked.txt").write_text(GOOD)
    assert f"locked.txt: cannot read it {hint}" in refused(built, str(built.root / "locked.txt"), script=script)


def test_io_error_from_the_kernel_is_named(built):
    (built.root / "mem.txt").symlink_to("/proc/self/mem")  # reading it fails with EIO, even for root
    assert "mem.txt: cannot read it (Input/output error)" in refused(built, str(built.root / "mem.txt"))


@pytest.mark.parametrize("make, reason", [
    (lambda d: (d / "a.txt").symlink_to(d / "b.txt") or (d / "b.txt").symlink_to(d / "a.txt"), "a loop of links"),
    (lambda d: (d / "a.txt").symlink_to(d / "gone.txt"), "a symbolic link to nothing"),
    (lambda d: None, "no such file or folder"),
])
def test_named_link_loops_and_missing_files(built, make, reason):
    make(built.root)
    assert f"{built.root / 'a.txt'}: " in (message := refused(built, str(built.root / "a.txt"))) and reason in message


def test_folder_with_link_loops_ingests_what_it_can(built):
    folder = built.root / "drop"
    folder.mkdir()
    (folder / "sub").symlink_to(folder)  # a folder that contains itself
    (folder / "a.txt").symlink_to(folder / "b.txt")
    (folder / "b.txt").symlink_to(folder / "a.txt")
    (folder / "fish.txt").write_text(GOOD)
    proc = built.run("ingest", str(folder), timeout=60)
    assert proc.returncode == 0 and b"1 added, 0 skipped" in proc.stdout
    assert len(load_index(built.index).documents) == 6


def test_non_utf8_file_name_is_refused(built):
    path = bytes(built.root) + b"/caf\xe9.txt"
    with open(path, "wb") as fh:
        fh.write(GOOD.encode())
    message = refused(built, path)
    assert "the file name is not valid UTF-8 (byte 0xE9" in message and "rename it" in message


@pytest.mark.parametrize("damage, message", [
    (lambda c: (c / "metadata.json").write_text("{not json"), "metadata.json: not valid JSON"),
    (lambda c: (c / "metadata.json").write_text("[1, 2]"), "metadata.json: must map each file name"),
    (lambda c: (c / "zz.txt").write_bytes(b"caf\xe9 " * 40), "zz.txt: not valid UTF-8 text"),
    (lambda c: (c / "zz.txt").write_bytes(b""), "zz.txt: file is empty"),
])
@pytest.mark.parametrize("command", [["index", "rebuild"], ["ingest", "{root}/new.txt"]])
def test_damaged_corpus_is_named(built, damage, message, command):
    (built.root / "new.txt").write_text(GOOD.replace("fish", "crab"))
    damage(built.corpus)
    proc = built.run(*(part.format(root=built.root) for part in command))
    assert proc.returncode == 2 and message in proc.stderr.decode()
    json.loads(json.dumps(load_index(built.index).manifest))  # the last good index is still there
    answered = built.run("ask", "--json", "Who signed the 1956 declaration?")  # answers come from that index
    assert answered.returncode == 0 and json.loads(answered.stdout)["citations"]
