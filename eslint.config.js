// Type-aware lint of the TypeScript sources (run by `make lint`, and so by `make test`).
// Deliberately small: rules that find real defects the compiler lets through, each an error.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'dashboard/**', '**/*.js', '**/*.cjs'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `x as T` / `x!` where x already is T: noise that hides the assertions that matter.
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
    },
  },
);
