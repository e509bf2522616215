// The timeline's time axis, with idle gaps compressed as trace viewers do: a linear axis
// lets one retry minutes later squeeze every bar of the first minute into a sliver. Times
// with activity close together form clusters, laid out in proportion to their length (each
// with a minimum share); a gap between clusters longer than the time they are busy (and
// than a second) becomes a break of fixed width that says how long nothing happened.
// Pure: times in, positions (percent of the track) out.

const GAP_SHARE = 5; // % of the track one break takes
const MIN_SHARE = 4; // % at least for a cluster, an instant included
const MIN_GAP_MS = 1000; // a pause shorter than this is never worth a break

// `spans`: [start, end] pairs in ms (a point is [t, t]); at least one.
export function compressedAxis(spans) {
  const sorted = spans.map(([s, e]) => [s, Math.max(s, e)]).sort((a, b) => a[0] - b[0]);
  const runs = [];
  for (const [s, e] of sorted) {
    const last = runs[runs.length - 1];
    if (last && s <= last.end) last.end = Math.max(last.end, e);
    else runs.push({ start: s, end: e });
  }
  const busy = runs.reduce((n, r) => n + (r.end - r.start), 0);
  const idle = Math.max(MIN_GAP_MS, busy);
  const clusters = [];
  for (const run of runs) {
    const last = clusters[clusters.length - 1];
    if (last && run.start - last.end <= idle) last.end = Math.max(last.end, run.end);
    else clusters.push({ ...run });
  }
  const shares = layout(clusters, 100 - GAP_SHARE * (clusters.length - 1));
  let offset = 0;
  clusters.forEach((c, i) => {
    c.left = offset;
    c.width = shares[i];
    offset += shares[i] + GAP_SHARE;
  });
  const gaps = clusters.slice(1).map((c, i) => ({
    from: clusters[i].end,
    to: c.start,
    left: clusters[i].left + clusters[i].width,
    width: GAP_SHARE,
  }));
  return { start: clusters[0].start, end: clusters[clusters.length - 1].end, clusters, gaps, x: (t) => position(clusters, t) };
}

// Shares in proportion to length, none under MIN_SHARE, summing to `total`.
function layout(clusters, total) {
  const lengths = clusters.map((c) => c.end - c.start);
  const small = new Set();
  for (;;) {
    const rest = total - MIN_SHARE * small.size;
    const sum = lengths.reduce((n, l, i) => n + (small.has(i) ? 0 : l), 0);
    const shares = lengths.map((l, i) => {
      if (small.has(i)) return MIN_SHARE;
      return sum > 0 ? (rest * l) / sum : rest / (clusters.length - small.size);
    });
    const under = shares.findIndex((s, i) => !small.has(i) && s < MIN_SHARE);
    if (under === -1 || small.size === clusters.length - 1) return shares;
    small.add(under);
  }
}

function position(clusters, t) {
  for (let i = 0; i < clusters.length; i += 1) {
    const c = clusters[i];
    if (t < c.start) {
      if (i === 0) return 0;
      const before = clusters[i - 1];
      const gapLeft = before.left + before.width;
      return gapLeft + (GAP_SHARE * (t - before.end)) / (c.start - before.end);
    }
    if (t <= c.end) return c.end > c.start ? c.left + (c.width * (t - c.start)) / (c.end - c.start) : c.left + c.width / 2;
  }
  return 100;
}

// An idle gap's length, short enough for its break: "40 s", "12 min", "3 h", "2 d".
export function roughly(ms) {
  const s = ms / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 129600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
