"""Audit the installed dependencies for known vulnerabilities with pip-audit.

Fails on any known vulnerability. pip-audit skips, rather than fails on, a package whose
advisories it cannot fetch; where the advisory feed (PyPI's JSON API) is not reachable — as on
our CI machines, which reach only a package mirror — every package is skipped, and this says
so loudly instead of printing pip-audit's misleading "No known vulnerabilities found".
"""

import json
import subprocess
import sys


def main() -> int:
    """Run pip-audit on this interpreter's environment; print a summary; exit 1 on findings."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--skip-editable",
         "--format", "json", "--timeout", "20"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(proc.stderr.strip() or proc.stdout.strip(), file=sys.stderr)
        print("pip-audit: could not run (see above)", file=sys.stderr)
        return 1
    deps = report["dependencies"]
    skipped = [d for d in deps if "skip_reason" in d]
    findings = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
    audited = len(deps) - len(skipped)
    print(f"pip-audit: {audited} of {len(deps)} packages audited, {len(findings)} known vulns")
    for name, version, vuln in findings:
        print(f"  {name} {version}: {vuln}")
    if skipped and not audited:
        print(
            "pip-audit: NOT AUDITED - the advisory feed is unreachable from this machine "
            f"({skipped[0]['skip_reason']}); run `make audit` where pypi.org is reachable"
        )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
