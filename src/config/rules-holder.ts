import type { RuleSet } from "../domain/rules.js";

/**
 * The one mutable reference to the rules in force: a reload builds a whole new
 * immutable RuleSet and swaps it here; a request reads it once and uses that snapshot throughout.
 */
export class RulesHolder {
  #current: RuleSet;

  constructor(initial: RuleSet) {
    this.#current = initial;
  }

  current(): RuleSet {
    return this.#current;
  }

  swap(next: RuleSet): RuleSet {
    const previous = this.#current;
    this.#current = next;
    return previous;
  }
}
