@echo off
rem claude-code-api on Windows: make.bat install ^| start ^| dev ^| build ^| typecheck ^| lint ^| format ^| test ^| bench ^| schemas
setlocal
set BIN=node_modules\.bin
if "%~1"=="" goto usage
if /I "%~1"=="install" goto install
if /I "%~1"=="start" goto start
if /I "%~1"=="dev" goto dev
if /I "%~1"=="build" goto build
if /I "%~1"=="typecheck" goto typecheck
if /I "%~1"=="lint" goto lint
if /I "%~1"=="format" goto format
if /I "%~1"=="test" goto test
if /I "%~1"=="bench" goto bench
if /I "%~1"=="schemas" goto schemas
:usage
echo usage: make.bat install^|start^|dev^|build^|typecheck^|lint^|format^|test^|bench^|schemas
exit /b 1
:install
call npm install --no-audit --no-fund
exit /b %ERRORLEVEL%
:build
call %BIN%\tsc -p tsconfig.build.json
exit /b %ERRORLEVEL%
:start
call %BIN%\tsc -p tsconfig.build.json || exit /b 1
node dist\main.js
exit /b %ERRORLEVEL%
:dev
call %BIN%\tsx watch src\main.ts
exit /b %ERRORLEVEL%
:typecheck
call %BIN%\tsc -p tsconfig.json --noEmit
exit /b %ERRORLEVEL%
:lint
call %BIN%\eslint --max-warnings 0 . || exit /b 1
call %BIN%\effect-language-service diagnostics --project tsconfig.json --strict --format text
exit /b %ERRORLEVEL%
:format
call %BIN%\eslint --fix .
exit /b %ERRORLEVEL%
:test
call %BIN%\tsc -p tsconfig.json --noEmit || exit /b 1
call %BIN%\eslint --max-warnings 0 . || exit /b 1
call %BIN%\effect-language-service diagnostics --project tsconfig.json --strict --format text || exit /b 1
call %BIN%\vitest run
exit /b %ERRORLEVEL%
:bench
call %BIN%\tsc -p tsconfig.build.json || exit /b 1
call %BIN%\tsx bench\run.ts
exit /b %ERRORLEVEL%
:schemas
call %BIN%\tsx scripts\generate-schemas.ts
exit /b %ERRORLEVEL%
