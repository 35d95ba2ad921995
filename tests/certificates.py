"""Certificates made at test time for the TLS tests of every area: a throwaway CA and what it signs."""
import shutil
import subprocess
from pathlib import Path

from tests.services import missing


def openssl(*args) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


class CertificateAuthority:
    """A throwaway CA made at test time with the openssl CLI (EC P-256 keys: quick), issuing certificates."""

    KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    def __init__(self, directory: Path, name: str = "Test Hospital CA"):
        if shutil.which("openssl") is None:
            missing("the openssl command is not installed")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.key, self.certificate = directory / f"{name}.key", directory / f"{name}.pem"
        openssl("req", "-x509", *self.KEY, "-keyout", self.key, "-out", self.certificate, "-days", "2",
                "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name: str, *, subject_alt_name: str = "", client: bool = False) -> tuple[Path, Path]:
        """A certificate signed by this CA and its unencrypted key: (certificate file, key file)."""
        key, request, certificate = (self.directory / f"{name}{suffix}" for suffix in (".key", ".csr", ".pem"))
        openssl("req", *self.KEY, "-keyout", key, "-out", request, "-subj", f"/CN={name}")
        extensions = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                      f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}",
                      "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
        if subject_alt_name:
            extensions.append(f"subjectAltName={subject_alt_name}")
        extfile = self.directory / f"{name}.ext"
        extfile.write_text("\n".join(extensions) + "\n")
        openssl("x509", "-req", "-in", request, "-CA", self.certificate, "-CAkey", self.key, "-CAcreateserial",
                "-out", certificate, "-days", "2", "-extfile", extfile)
        return certificate, key
