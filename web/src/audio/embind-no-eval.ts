/**
 * Lets opusscript (the library's Opus encoder) run under the app's Content-Security-Policy, which
 * allows WebAssembly but never evaluates strings as code (no 'unsafe-eval', docs/RELAY.md, the
 * web app).
 *
 * opusscript's Emscripten glue (embind) builds each C++ method's JavaScript wrapper by calling
 * `new Function(...argNames, body)` with generated source, then applying the result to the values
 * those names stand for. Inside the encoder worker only, `Function` is replaced by a constructor
 * that recognises exactly that call (the names `throwBindingError invoker fn runDestructors
 * retType classParam argType0…` and the `_dtor` names) and returns the same wrapper built from
 * closures: arguments converted with each type's `toWireType`, the C++ invoker called, destructors
 * run, the result converted with `fromWireType`, as the generated source does. Any other use falls
 * through to the real `Function` (which the policy refuses, as before).
 */

interface WireType {
  toWireType(destructors: unknown[] | null, value: unknown): unknown;
  fromWireType(wire: unknown): unknown;
}

const RealFunction = globalThis.Function;
const EMBIND_NAMES = ['throwBindingError', 'invoker', 'fn', 'runDestructors', 'retType', 'classParam'];

function isEmbindInvoker(names: string[]): boolean {
  return EMBIND_NAMES.every((n, i) => names[i] === n) && names.slice(6).every((n) => /^(argType\d+|thisWired_dtor|arg\d+Wired_dtor)$/.test(n));
}

function embindFactory(names: string[], body: string): (...values: unknown[]) => unknown {
  const argCount = names.filter((n) => /^argType\d+$/.test(n)).length;
  const usesDestructors = body.includes('var destructors = [];');
  const hasThis = body.includes('var thisWired = classParam.toWireType(');
  const returns = body.includes('var ret = retType.fromWireType(rv);');
  const nameMatch = /^return function ([A-Za-z0-9_$]*)\(/.exec(body);
  const fnName = nameMatch?.[1] ?? 'embind';
  return (...values: unknown[]) => {
    const env = new Map<string, unknown>(names.map((n, i) => [n, values[i]]));
    const get = <T>(n: string): T => env.get(n) as T;
    const throwBindingError = get<(m: string) => never>('throwBindingError');
    const invoker = get<(...a: unknown[]) => unknown>('invoker');
    const fn = env.get('fn');
    const runDestructors = get<(d: unknown[]) => void>('runDestructors');
    const retType = get<WireType>('retType');
    const classParam = get<WireType>('classParam');
    const argTypes = Array.from({ length: argCount }, (_, i) => get<WireType>(`argType${i}`));
    const dtors = names.filter((n) => n.endsWith('_dtor')).map((n) => ({ slot: n === 'thisWired_dtor' ? -1 : Number(/^arg(\d+)Wired_dtor$/.exec(n)![1]), dtor: get<(w: unknown) => void>(n) }));
    const wrapper = {
      [fnName](this: unknown, ...args: unknown[]): unknown {
        if (args.length !== argCount) throwBindingError(`function ${fnName} called with ${args.length} arguments, expected ${argCount} args!`);
        const destructors: unknown[] | null = usesDestructors ? [] : null;
        const thisWired = hasThis ? classParam.toWireType(destructors, this) : undefined;
        const wired = argTypes.map((t, i) => t.toWireType(destructors, args[i]));
        const rv = invoker(fn, ...(hasThis ? [thisWired] : []), ...wired);
        if (usesDestructors) runDestructors(destructors!);
        else for (const d of dtors) d.dtor(d.slot === -1 ? thisWired : wired[d.slot]);
        return returns ? retType.fromWireType(rv) : undefined;
      },
    }[fnName]!;
    return wrapper;
  };
}

/** Installs the replacement (idempotent). Call before the first encoder is created. */
export function installEmbindWithoutEval(): void {
  if ((globalThis.Function as unknown as { plushlinkNoEval?: boolean }).plushlinkNoEval) return;
  const NoEvalFunction = function (this: unknown, ...args: string[]): unknown {
    const names = args.slice(0, -1);
    const body = args[args.length - 1] ?? '';
    if (isEmbindInvoker(names)) return embindFactory(names, body);
    return (RealFunction as unknown as (...a: string[]) => unknown)(...args);
  } as unknown as FunctionConstructor & { plushlinkNoEval: boolean };
  // `x instanceof Function` keeps working: the prototype is the real one.
  (NoEvalFunction as { prototype: unknown }).prototype = RealFunction.prototype;
  NoEvalFunction.plushlinkNoEval = true;
  globalThis.Function = NoEvalFunction;
}
