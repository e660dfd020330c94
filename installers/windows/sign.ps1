<#
.SYNOPSIS
    Signs Windows files (moss.exe, the installer, its uninstaller) with Moss's code-signing certificate.

.DESCRIPTION
    The certificate comes from the CI secrets, as environment variables:
        WINDOWS_CERTIFICATE_PFX_BASE64   the certificate and its private key (.pfx), base64-encoded
        WINDOWS_CERTIFICATE_PASSWORD     the .pfx file's password
        WINDOWS_TIMESTAMP_URL            optional; an RFC 3161 time-stamp server (default: DigiCert's)
    Without the certificate it says so and exits 0, so that builds without secrets (forks, test runs) still
    produce an unsigned installer. The release workflow calls it for moss.exe, and Inno Setup calls it (its
    SignTool "mosssign", see moss.iss) for Setup and the uninstaller.

.EXAMPLE
    powershell -NoProfile -ExecutionPolicy Bypass -File installers\windows\sign.ps1 dist\Moss\moss.exe
#>
param(
    [Parameter(Mandatory = $true, ValueFromRemainingArguments = $true)]
    [string[]] $Path
)

$ErrorActionPreference = 'Stop'

if (-not $env:WINDOWS_CERTIFICATE_PFX_BASE64) {
    Write-Host "Signing skipped for $($Path -join ', '): WINDOWS_CERTIFICATE_PFX_BASE64 is not set."
    Write-Host 'Add the WINDOWS_CERTIFICATE_PFX_BASE64 and WINDOWS_CERTIFICATE_PASSWORD secrets to sign releases.'
    exit 0
}

foreach ($file in $Path) {
    if (-not (Test-Path -LiteralPath $file -PathType Leaf)) {
        throw "Cannot sign $file`: the file does not exist. Build it first."
    }
}

# signtool.exe comes with the Windows SDK: use the newest one installed.
$kits = Join-Path ${env:ProgramFiles(x86)} 'Windows Kits\10\bin'
$signtool = Get-ChildItem -Path $kits -Filter signtool.exe -Recurse -ErrorAction SilentlyContinue |
    Where-Object { $_.Directory.Name -eq 'x64' -and ($_.Directory.Parent.Name -as [version]) } |
    Sort-Object { [version] $_.Directory.Parent.Name } -Descending |
    Select-Object -First 1
if (-not $signtool) {
    throw "signtool.exe was not found under $kits. Install the Windows SDK (it includes signtool)."
}

$timestamp = if ($env:WINDOWS_TIMESTAMP_URL) { $env:WINDOWS_TIMESTAMP_URL } else { 'http://timestamp.digicert.com' }
# The certificate is written to a private temporary file only for the time signtool needs it.
$pfx = Join-Path ([System.IO.Path]::GetTempPath()) ("moss-signing-" + [guid]::NewGuid().ToString() + '.pfx')
try {
    [System.IO.File]::WriteAllBytes($pfx, [System.Convert]::FromBase64String($env:WINDOWS_CERTIFICATE_PFX_BASE64))
    & $signtool.FullName sign /fd SHA256 /td SHA256 /tr $timestamp /d Moss `
        /f $pfx /p $env:WINDOWS_CERTIFICATE_PASSWORD $Path
    if ($LASTEXITCODE -ne 0) {
        throw "signtool failed (exit code $LASTEXITCODE) for $($Path -join ', '). Check the certificate secrets."
    }
    & $signtool.FullName verify /pa $Path
    if ($LASTEXITCODE -ne 0) {
        throw "The signature of $($Path -join ', ') does not verify (signtool verify exit code $LASTEXITCODE)."
    }
}
finally {
    Remove-Item -LiteralPath $pfx -Force -ErrorAction SilentlyContinue
}
