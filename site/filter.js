/* dii-hpc report: the runs table's filter, the language of `runs list --filter` (see
   dii_hpc/store/query.py) plus the table's own shorthand.
     params.lr > 0.001 and metrics.acc >= 0.9      comparisons joined by and / or / not, ( )
     lr<0.01 status=failed                          a space is "and"; a bare name is its column
     alert                                          a plain word or "quoted text": anywhere in the row
   A number compares numerically; text compares without case (= and != only); a run without
   a value for the column matches no comparison, != included (as MLflow and runs list do).
   compile(text, resolve) -> {test(row, rowText), error}; resolve(name) -> getter or throws. */
(function () {
  "use strict";
  var TOKEN = /\s*(?:([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(==|!=|<=|>=|=|<|>)|([()])|([A-Za-z_][A-Za-z0-9_.\/:@%+\-]*))/y;
  var KINDS = ["num", "str", "op", "paren", "word"];
  var KEYWORDS = { and: 1, or: 1, not: 1 };

  function tokenize(text) {
    var out = [], pos = 0;
    while (pos < text.length && text.slice(pos).trim()) {
      TOKEN.lastIndex = pos;
      var m = TOKEN.exec(text);
      if (!m || TOKEN.lastIndex === pos) {
        var at = pos + (text.length - pos - text.slice(pos).trimStart().length);
        throw new Error("unexpected " + JSON.stringify(text[at]) + " at position " + at);
      }
      for (var g = 1; g <= 5; g++) {
        if (m[g] === undefined) continue;
        var kind = KINDS[g - 1], low = m[g].toLowerCase();
        out.push({ kind: kind === "word" && KEYWORDS[low] ? low : kind, text: m[g] });
        break;
      }
      pos = TOKEN.lastIndex;
    }
    out.push({ kind: "end", text: "" });
    return out;
  }

  function unquote(tok) {
    if (tok.kind !== "str") return tok.text;
    return tok.text.slice(1, -1).replace(/\\(.)/g, "$1");
  }

  function Parser(tokens, resolve) { this.t = tokens; this.i = 0; this.resolve = resolve; }
  Parser.prototype.peek = function () { return this.t[this.i]; };
  Parser.prototype.next = function () { return this.t[this.i++]; };
  Parser.prototype.or = function () {
    var parts = [this.and()];
    while (this.peek().kind === "or") { this.i++; parts.push(this.and()); }
    return parts.length === 1 ? parts[0] : function (r, s) { return parts.some(function (p) { return p(r, s); }); };
  };
  Parser.prototype.and = function () {
    var parts = [this.not()];
    for (;;) {
      var k = this.peek().kind;
      if (k === "and") { this.i++; parts.push(this.not()); continue; }
      if (k === "end" || k === "or" || (k === "paren" && this.peek().text === ")")) break;
      parts.push(this.not());  // juxtaposition: "lr<0.01 status=failed"
    }
    return parts.length === 1 ? parts[0] : function (r, s) { return parts.every(function (p) { return p(r, s); }); };
  };
  Parser.prototype.not = function () {
    var tok = this.peek();
    if (tok.kind === "not") { this.i++; var inner = this.not(); return function (r, s) { return !inner(r, s); }; }
    if (tok.kind === "paren" && tok.text === "(") {
      this.i++;
      var group = this.or();
      if (this.next().text !== ")") throw new Error("expected ')'");
      return group;
    }
    return this.primary();
  };
  Parser.prototype.primary = function () {
    var tok = this.next();
    if (tok.kind === "word" && this.peek().kind === "op") {
      var op = this.next().text, val = this.next();
      if (["num", "str", "word"].indexOf(val.kind) < 0) throw new Error("expected a value after " + op);
      return compare(this.resolve(tok.text), op, val);
    }
    if (["word", "str", "num"].indexOf(tok.kind) < 0) throw new Error("unexpected " + (tok.text || "end"));
    var needle = unquote(tok).toLowerCase();
    return function (r, s) { return s(r).indexOf(needle) >= 0; };
  };

  function compare(get, op, tok) {
    if (op === "==") op = "=";
    if (tok.kind === "num") {
      var v = Number(tok.text);
      return function (r) {
        var c = get(r);
        if (c === null || c === undefined || c === "" || typeof c === "boolean") return false;
        var n = typeof c === "number" ? c : Number(c);
        if (isNaN(n)) return false;
        return op === "=" ? n === v : op === "!=" ? n !== v : op === ">" ? n > v
          : op === "<" ? n < v : op === ">=" ? n >= v : n <= v;
      };
    }
    if (op !== "=" && op !== "!=") throw new Error(op + " needs a number, got " + JSON.stringify(unquote(tok)));
    var text = unquote(tok).toLowerCase();
    return function (r) {
      var c = get(r);
      if (c === null || c === undefined || c === "") return false;
      return (String(c).toLowerCase() === text) === (op === "=");
    };
  }

  function compile(text, resolve) {
    if (!text.trim()) return { test: null, error: null };
    try {
      var p = new Parser(tokenize(text), resolve), fn = p.or();
      if (p.peek().kind !== "end") throw new Error("expected and, or or the end, found " + p.peek().text);
      return { test: fn, error: null };
    } catch (err) {  // read as plain words, and say why
      var words = text.toLowerCase().split(/\s+/).filter(Boolean);
      return { test: function (r, s) { var t = s(r); return words.every(function (w) { return t.indexOf(w) >= 0; }); },
        error: err.message + "; read as plain words" };
    }
  }

  window.diiFilter = { compile: compile, tokenize: tokenize };
})();
