'use strict';
// Ordered, append-only schema migrations, one file each in ./migrations (NNNN-name.js exporting
// { version, name, sql, contract? }). Never edit one that has shipped; add a new version.
//
// Expand/contract (docs/release.md): while a release rolls out, the previous version keeps
// serving on the migrated schema, so a migration must leave a schema the running version can
// use. destructiveStatements() parses each migration with Postgres's own grammar (libpg_query,
// WASM) and lists the statements that would break it: dropping or renaming a table or column,
// moving it to another schema, a column type change (db.js lets through the known widenings),
// TRUNCATE, a DO block (whose dynamic SQL cannot be inspected). db.js refuses them unless the
// migration declares `contract: true`: the contract step, shipped once no running version reads
// what it removes.
const fs = require('node:fs');
const path = require('node:path');
const { parseSync, loadModule } = require('libpg-query');

const DIR = path.join(__dirname, 'migrations');

function loadMigrations(dir = DIR) {
  const list = fs
    .readdirSync(dir)
    .filter((f) => /^\d+-[\w-]+\.js$/.test(f))
    .map((f) => ({ file: f, ...require(path.join(dir, f)) }));
  const seen = new Set();
  for (const m of list) {
    if (!Number.isInteger(m.version) || m.version < 1 || typeof m.sql !== 'string' || !m.name) {
      throw new Error(`migration ${m.file}: needs an integer version >= 1, a name and sql`);
    }
    if (Number(m.file.split('-')[0]) !== m.version) throw new Error(`migration ${m.file}: file number is not its version ${m.version}`);
    if (seen.has(m.version)) throw new Error(`migration version ${m.version} appears twice`);
    if (m.contract !== undefined && typeof m.contract !== 'boolean') throw new Error(`migration ${m.file}: contract must be true or false`);
    seen.add(m.version);
  }
  return list.sort((a, b) => a.version - b.version);
}

// The WASM parser must be instantiated once before parseSync; migrate() awaits this (and so
// reports a failure to load it), which must not crash the process as an unhandled rejection first.
const ready = loadModule();
ready.catch(() => {});

// Column type changes that keep every value and every reader working (a widening).
const INTEGER_WIDTH = { int2: 2, int4: 4, int8: 8 };
function isWidening(from, to) {
  // from/to: { name, mods: [numbers] } with pg_catalog names (varchar, bpchar, numeric, int4...)
  if (from.name in INTEGER_WIDTH && to.name in INTEGER_WIDTH) return INTEGER_WIDTH[to.name] >= INTEGER_WIDTH[from.name];
  if (from.name === 'float4' && to.name === 'float8') return true;
  if (['varchar', 'bpchar'].includes(from.name) && to.name === 'text') return true;
  if (from.name === 'varchar' && to.name === 'varchar') return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0] >= from.mods[0]);
  if (from.name === 'numeric' && to.name === 'numeric') {
    if (to.mods.length === 0) return true;
    if (from.mods.length === 0) return false;
    const [fp, fscale = 0] = from.mods;
    const [tp, tscale = 0] = to.mods;
    return tscale >= fscale && tp - tscale >= fp - fscale;
  }
  return from.name === to.name && JSON.stringify(from.mods) === JSON.stringify(to.mods);
}

// A TypeName node of the parse tree -> { name, mods }.
function typeOf(typeName) {
  const names = (typeName.names || []).map((n) => n.String?.sval);
  const mods = (typeName.typmods || []).map((m) => m.A_Const?.ival?.ival ?? 0);
  const alias = { integer: 'int4', int: 'int4', smallint: 'int2', bigint: 'int8', decimal: 'numeric' };
  const name = names[names.length - 1];
  return { name: alias[name] || name, mods };
}

const KEPT_DROPS = new Set(['OBJECT_INDEX']); // an index holds no data and no reader names it
const KEPT_RENAMES = new Set(['OBJECT_INDEX']);

// Lists what in `sql` the running version may not survive: [{ statement, reason, ... }].
// Column type changes carry `typeChange` (and table/column) so db.js compares with the catalog.
function destructiveStatements(sql) {
  const tree = parseSync(sql); // throws on SQL Postgres's grammar rejects
  const found = [];
  for (const { stmt, stmt_location: at = 0, stmt_len: len } of tree.stmts) {
    const text = sql.slice(at, len ? at + len : undefined).trim();
    const [kind] = Object.keys(stmt);
    const node = stmt[kind];
    const add = (reason, extra = {}) => found.push({ statement: text, reason, ...extra });
    switch (kind) {
      case 'DropStmt':
        if (!KEPT_DROPS.has(node.removeType)) add(`DROP ${node.removeType.replace('OBJECT_', '')}`);
        break;
      case 'TruncateStmt':
        add('TRUNCATE');
        break;
      case 'RenameStmt':
        if (!KEPT_RENAMES.has(node.renameType)) add(`RENAME ${node.renameType.replace('OBJECT_', '')}`);
        break;
      case 'AlterObjectSchemaStmt':
        add('SET SCHEMA (moves the object away from the running version)');
        break;
      case 'DoStmt':
        add('DO block (its statements cannot be inspected)');
        break;
      case 'AlterTableStmt':
        for (const { AlterTableCmd: cmd } of node.cmds || []) {
          if (!cmd) continue;
          if (cmd.subtype === 'AT_DropColumn') add('DROP COLUMN', { column: cmd.name });
          if (cmd.subtype === 'AT_AlterColumnType') {
            add('ALTER COLUMN TYPE', {
              column: cmd.name,
              table: node.relation?.relname,
              schema: node.relation?.schemaname,
              typeChange: typeOf(cmd.def.ColumnDef.typeName),
            });
          }
        }
        break;
      default:
    }
  }
  return found;
}

module.exports = loadMigrations();
module.exports.loadMigrations = loadMigrations;
module.exports.destructiveStatements = destructiveStatements;
module.exports.isWidening = isWidening;
module.exports.parserReady = ready;
