/** The rule registry: rules by id; a duplicate id is a hard error. */
import { byCodePoint } from '../../arrays.js';
import { DuplicateRuleError } from '../../errors.js';
import type { Rule } from '../kit/rule.js';

export class Registry {
  private readonly rules = new Map<string, Rule>();

  constructor(rules: Iterable<Rule> = []) {
    for (const r of rules) this.add(r);
  }

  add(rule: Rule): void {
    if (this.rules.has(rule.meta.id)) throw new DuplicateRuleError(`duplicate rule id '${rule.meta.id}'`);
    this.rules.set(rule.meta.id, rule);
  }

  get(id: string): Rule | undefined {
    return this.rules.get(id);
  }

  has(id: string): boolean {
    return this.rules.has(id);
  }

  /** All rules, sorted by id. */
  all(): Rule[] {
    return [...this.rules.values()].sort((a, b) => byCodePoint(a.meta.id, b.meta.id));
  }
}
