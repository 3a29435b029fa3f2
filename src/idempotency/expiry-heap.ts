/** One key's expiry as the heap saw it; stale once the key's entry was replaced or dropped (its generation). */
export interface Expiry {
  expires: number;
  key: string;
  generation: number;
}

/**
 * A binary min-heap of expiries, the earliest first, with lazy deletion: an entry replaced or dropped
 * leaves its node behind, recognised as stale by its generation when it comes to the top (or dropped
 * wholesale by `compact` once stale nodes outnumber the live ones).
 */
export class ExpiryHeap {
  #nodes: Expiry[] = [];

  get size(): number {
    return this.#nodes.length;
  }

  peek(): Expiry | undefined {
    return this.#nodes[0];
  }

  push(node: Expiry): void {
    const nodes = this.#nodes;
    nodes.push(node);
    let at = nodes.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (nodes[parent]!.expires <= node.expires) break;
      nodes[at] = nodes[parent]!;
      at = parent;
    }
    nodes[at] = node;
  }

  pop(): Expiry | undefined {
    const nodes = this.#nodes;
    const top = nodes[0];
    const last = nodes.pop();
    if (nodes.length > 0 && last) this.#sinkFrom(0, last);
    return top;
  }

  /** Keeps only the nodes `live` accepts, in O(n). */
  compact(live: (node: Expiry) => boolean): void {
    this.#nodes = this.#nodes.filter(live);
    for (let at = (this.#nodes.length >> 1) - 1; at >= 0; at--) this.#sinkFrom(at, this.#nodes[at]!);
  }

  #sinkFrom(start: number, node: Expiry): void {
    const nodes = this.#nodes;
    let at = start;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= nodes.length) break;
      const right = left + 1;
      const child = right < nodes.length && nodes[right]!.expires < nodes[left]!.expires ? right : left;
      if (nodes[child]!.expires >= node.expires) break;
      nodes[at] = nodes[child]!;
      at = child;
    }
    nodes[at] = node;
  }
}
