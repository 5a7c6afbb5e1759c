@echo off
rem Starts claude-code-api in dev mode (restarts on changes). Configure with a .env file.
if not exist node_modules call npm install --no-audit --no-fund
call node_modules\.bin\tsx watch src\main.ts
