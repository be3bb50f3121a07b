// Where a template problem's path (`steps[2].depends_on`, `context_schema`)
// sits in the YAML text, so the editor can point at the line. Block-style
// YAML as people write templates; a path it cannot follow gives null.

export function locate(text, path) {
  if (!path) return null;
  const lines = text.split('\n');
  const step = /^steps\[(\d+)\](?:\.(\w+))?/.exec(path);
  const topKey = (key) => lines.findIndex((l) => new RegExp(`^${key}\\s*:`).test(l));
  if (!step) {
    const key = path.split(/[.[]/)[0];
    const at = topKey(key);
    return at < 0 ? null : at + 1;
  }
  const start = topKey('steps');
  if (start < 0) return null;
  const wanted = Number(step[1]);
  let seen = -1;
  let itemIndent = null;
  for (let i = start + 1; i < lines.length; i += 1) {
    const line = lines[i];
    if (/^\S/.test(line)) break;
    const item = /^(\s*)-\s/.exec(line);
    if (item && (itemIndent === null || item[1].length === itemIndent)) {
      itemIndent = item[1].length;
      seen += 1;
      if (seen === wanted) {
        if (!step[2]) return i + 1;
        for (let j = i; j < lines.length; j += 1) {
          if (j > i && new RegExp(`^\\s{0,${itemIndent}}-\\s`).test(lines[j])) break;
          if (new RegExp(`(^|[\\s{,-])${step[2]}\\s*:`).test(lines[j])) return j + 1;
        }
        return i + 1;
      }
    }
  }
  return null;
}
