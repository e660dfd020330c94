"""The installers (installers/) and the release workflow (.github/workflows/release.yml), checked here on Linux.

The workflow cannot run here, so it is linted (actionlint, with shellcheck on its shell steps), every shell script
is linted, and every script that runs on Linux is run: the Linux tarball is built from a stand-in app and
installed into a throwaway home folder; the macOS scripts run with stand-ins for hdiutil, codesign, security and
xcrun that record what they were asked to do. The Inno Setup script is checked as far as a text can be (Inno
Setup runs on Windows only).
"""
