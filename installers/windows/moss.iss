; Moss for Windows: the Inno Setup 6 script of Moss-<version>-windows-x64-setup.exe.
;
; Installs for the current user only, without administrator rights, into %LOCALAPPDATA%\Programs\Moss; adds a
; Start-menu entry, an optional desktop icon and "Open with Moss" for .gguf model files. Its uninstaller asks
; whether to keep the person's models and conversation history.
;
; Built by the release workflow (.github/workflows/release.yml) from the PyInstaller folder dist\Moss:
;
;   iscc /DAppVersion=0.1.0 /DDistDir=C:\src\moss\dist\Moss /DInstallerDir=C:\src\moss\dist\installer
;        installers\windows\moss.iss
;
; Signing: with /DSignInstaller and a sign tool named "mosssign" (ISCC's /S option), Setup and its uninstaller are
; signed by installers\windows\sign.ps1; the workflow passes both only when the certificate secrets exist:
;
;   iscc ... /DSignInstaller "/Smosssign=powershell.exe -NoProfile -ExecutionPolicy Bypass -File $qsign.ps1$q $f"

#ifndef AppVersion
  #error Pass the version of Moss: iscc /DAppVersion=X.Y.Z (app.__version__).
#endif
#ifndef DistDir
  #define DistDir "..\..\dist\Moss"
#endif
#ifndef InstallerDir
  #define InstallerDir "..\..\dist\installer"
#endif

#define AppName "Moss"
#define AppExe "moss.exe"
; The file type Moss registers for .gguf files (HKCU\Software\Classes\Moss.gguf).
#define GgufProgId "Moss.gguf"

[Setup]
; AppId identifies Moss to Windows across versions: never change it, or upgrades install a second copy.
AppId={{4CC9CE97-A915-46E3-AF8B-BF294CE4865A}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
; Per-user: no administrator rights, and {autopf} is %LOCALAPPDATA%\Programs.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
ChangesAssociations=yes
; Moss must not be running while its files are replaced (the Restart Manager asks to close it).
CloseApplications=yes
RestartApplications=no
OutputDir={#InstallerDir}
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\moss.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
; The CUDA libraries make the app large; compressing in a separate process keeps ISCC within its memory.
LZMAUseSeparateProcess=yes
#ifdef SignInstaller
SignTool=mosssign
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the app's folder of libraries whole, so files that a new version no longer ships go away.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; "Open with Moss" for .gguf files: Moss joins the file type's Open-with list (OpenWithProgids) instead of taking
; over its default program, which stays whatever the person chose.
Root: HKCU; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "{#GgufProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKCU; Subkey: "Software\Classes\{#GgufProgId}"; ValueType: string; ValueName: ""; ValueData: "GGUF model"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\{#GgufProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKCU; Subkey: "Software\Classes\{#GgufProgId}\shell\open"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"
Root: HKCU; Subkey: "Software\Classes\{#GgufProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" --model ""%1"""
; Lets "Open with" list Moss under its own name for .gguf files.
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".gguf"; ValueData: ""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"; Flags: uninsdeletekey

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  CRED_TYPE_GENERIC = 1;

var
  KeepUserData: Boolean;

{ Windows Credential Manager, where Moss keeps a Hugging Face token (the keyring package, service "Moss"). }
function CredDelete(TargetName: String; CredType: Cardinal; Flags: Cardinal): Integer;
  external 'CredDeleteW@advapi32.dll stdcall';

{ Moss's own folders (app/platform/paths.py, platformdirs): settings, history.db, models\, Cache\ and Logs\ are
  all under %LOCALAPPDATA%\Moss. Models that Moss uses from other folders are never touched. }
function MossDataDir(): String;
begin
  Result := ExpandConstant('{localappdata}\{#AppName}');
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  DataDir := MossDataDir();
  case CurUninstallStep of
    usUninstall:
      begin
        { A silent uninstall (a script, an administrator's tool) never deletes anyone's models or chats. }
        KeepUserData := True;
        if DirExists(DataDir) and not UninstallSilent() then
          KeepUserData := MsgBox('Keep your models and conversation history?' + #13#10#13#10 +
            'They are in ' + DataDir + '.' + #13#10 +
            'Yes keeps them, and Moss finds them again if you install it later. ' +
            'No deletes them now, with your settings and your saved Hugging Face token; this cannot be undone.',
            mbConfirmation, MB_YESNO or MB_DEFBUTTON1) = IDYES;
      end;
    usPostUninstall:
      if not KeepUserData then
      begin
        CredDelete('{#AppName}', CRED_TYPE_GENERIC, 0);
        CredDelete('huggingface-token@{#AppName}', CRED_TYPE_GENERIC, 0);
        if not DelTree(DataDir, True, True, True) then
          MsgBox('Some files in ' + DataDir + ' could not be deleted, perhaps because a program is using them.' +
            #13#10 + 'Close that program and delete the folder yourself.', mbInformation, MB_OK);
      end;
  end;
end;
