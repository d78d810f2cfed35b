/**
 * A Stryker reporter for `npm run mutation` (scripts/mutation.ts): appends each mutant's result to
 * a JSON-lines file ($PLUSHLINK_MUTATION_LIVE) as soon as it is tested, so that survivors can be
 * looked at while a run that takes an hour goes on. Stryker's own JSON report is written only at
 * the end.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';

class LiveReporter {
  constructor() {
    this.file = process.env.PLUSHLINK_MUTATION_LIVE;
    if (this.file) writeFileSync(this.file, '');
  }

  onMutantTested(r) {
    if (!this.file) return;
    const line = {
      id: r.id,
      status: r.status,
      file: r.fileName,
      line: r.location.start.line,
      column: r.location.start.column,
      mutator: r.mutatorName,
      replacement: r.replacement,
      killedBy: r.killedBy?.length ?? 0,
      coveredBy: r.coveredBy?.length ?? 0,
    };
    appendFileSync(this.file, JSON.stringify(line) + '\n');
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'plushlink-live', LiveReporter)];
