// better-sqlite3 ships no types and the project adds no @types package: this declares the small
// part of its API the benchmark uses.

declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement<Row = unknown> {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): Row | undefined;
      all(...params: unknown[]): Row[];
      iterate(...params: unknown[]): IterableIterator<Row>;
      raw(toggle?: boolean): Statement<unknown[]>;
      pluck(toggle?: boolean): Statement<unknown>;
    }

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }

    interface Database {
      prepare<Row = unknown>(sql: string): Statement<Row>;
      exec(sql: string): Database;
      pragma(sql: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): F;
      close(): Database;
      readonly inTransaction: boolean;
    }
  }

  const Database: {
    new (filename: string, options?: Database.Options): Database.Database;
  };

  export = Database;
}
