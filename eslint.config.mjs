// Lint and format as the Effect repositories do: typescript-eslint's recommended rules and
// dprint (through @effect/eslint-plugin) as the formatter. `make lint` checks, `make format` fixes.
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import globals from "globals"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".tmp/**", "data/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    languageOptions: {
      parser: tseslint.parser,
      ecmaVersion: 2022,
      sourceType: "module"
    },
    rules: {
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      "object-shorthand": "error",
      "prefer-destructuring": "off",
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }],
      "no-unused-vars": "off",
      "require-yield": "off",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }]
    }
  },
  {
    files: ["**/*.mjs"],
    languageOptions: { globals: globals.node }
  },
  {
    files: ["src/**/*"],
    rules: { "no-console": "error" }
  },
  // The layers point one way: main → Http → Sessions → SessionRunner → services → Domain.
  {
    files: ["src/Domain/**/*"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ group: ["../*"], message: "Domain depends on nothing else." }]
      }]
    }
  },
  {
    files: ["src/*.ts", "src/*/**/*"],
    ignores: ["src/Http/**/*", "src/main.ts", "src/Contracts.ts", "src/index.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ group: ["**/Http/*"], message: "Only main and the contracts depend on the HTTP edge." }]
      }]
    }
  },
  {
    files: ["src/SessionRunner.ts", "src/SessionRunner/**/*"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ group: ["**/Http/*", "**/Sessions.js", "**/Layers.js"], message: "The runner sits below these." }]
      }]
    }
  },
  {
    files: [
      "src/AppConfig.ts",
      "src/Auth.ts",
      "src/ClaudeProcess.ts",
      "src/ClaudeProcess/**/*",
      "src/EventLog.ts",
      "src/ModelRegistry.ts",
      "src/Projects.ts",
      "src/Projects/**/*",
      "src/SessionQueries.ts",
      "src/SessionStore.ts",
      "src/SessionStore/**/*"
    ],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{
          group: ["**/Http/*", "**/Sessions.js", "**/SessionRunner.js", "**/SessionRunner/*", "**/Layers.js"],
          message: "Services depend only on other services and the domain."
        }]
      }]
    }
  }
)
