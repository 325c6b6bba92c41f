#!/usr/bin/env python3
"""Writes jinja_cases.json: Jinja snippets with the output that Python Jinja2 gives
them when it is set up the way Hugging Face transformers renders chat templates
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF's
tojson / raise_exception). test_jinja_cases.cpp renders every snippet with libdsm and
compares byte for byte; cases where Jinja2 raises must raise dsm::Error.

Usage: python3 gen_jinja_cases.py > jinja_cases.json   (needs jinja2; made with 3.1.6)
"""
import json
import sys

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <there> & 'you'"},
    {"role": "assistant", "content": "<think>\nplan\n</think>\n\nHello!"},
    {"role": "user", "content": "1+1=?"},
]
DATA = {
    "d": {"b": 2, "a": 1, "nested": {"x": [1, {"y": "z"}]}},
    "l": [3, 1, 2],
    "s": "héllo wörld",
    "words": ["Banana", "apple", "cherry", "apple"],
    "people": [{"name": "Ann", "age": 31}, {"name": "bob", "age": 25}, {"name": "Cy", "age": 31}],
    "n": None,
    "f": 2.5,
    "t": True,
    "e": "",
    "u": "ünï ☃ 😀",
}

CASES = [
    # ---- whitespace control, trim_blocks, lstrip_blocks, newlines -------------------
    ("a\n{% if true %}\nb\n{% endif %}\nc", {}),
    ("  {% if true %}x{% endif %}  \n  y", {}),
    ("{%- if true -%}  x  {%- endif -%}", {}),
    ("a  {{- 'b' -}}  c", {}),
    ("a {%+ if true %}b{% endif %}", {}),
    ("x\n    {%+ if true %}b{% endif %}", {}),
    ("{% if true +%}\nx{% endif %}", {}),
    ("line1\n  {# comment #}\nline2", {}),
    ("a {#- c -#} b", {}),
    ("a\n  {#- c #}\n  b", {}),
    ("{% raw %}{{ x }}{% endraw %}", {}),
    ("  {% raw %}\n  {{x}}\n  {% endraw %}\nend", {}),
    ("a {%- raw -%}  {{x}}  {%- endraw -%} b", {}),
    ("text\r\nmore\r\n{% if 1 %}\r\nx\r\n{% endif %}\r\n", {}),
    ("old mac\rline\r", {}),
    ("trailing newline\n", {}),
    ("two trailing\n\n", {}),
    ("\t{% for i in range(2) %}\n\t{{ i }}\n\t{% endfor %}\n", {}),
    ("{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("x {% if true %} y {% endif %} z", {}),
    ("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}", {}),
    ("\u3000{% if true %}x{% endif %}", {}),
    ("a{{ 'x' }}  {% if true %}b{% endif %}", {}),
    ("{% if true %}  \n{% endif %}z", {}),
    ("{% if true -%}\n\n  x\n{%- endif %}", {}),
    ("a {{- '' }}\n\n{{- 'b' }}", {}),
    ("{{- 1 -}}\n{{- 2 -}}", {}),
    ("{#- only a comment -#}", {}),
    ("x\n{# c #}y", {}),
    ("{{ '{{' }} {{ '}}' }}", {}),
    ("{ not a tag } {x}", {}),
    # ---- literals and printing --------------------------------------------------------
    ("{{ 1 }}|{{ 1.5 }}|{{ -3 }}|{{ 1e3 }}|{{ 1_000 }}|{{ 0.1 + 0.2 }}|{{ 10 / 4 }}|{{ 10 // 4 }}", {}),
    ("{{ -7 // 2 }}|{{ 7 % -3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 1e16 }}|{{ 1e-5 }}", {}),
    ("{{ 123456789.0 }}|{{ 0.0001 }}|{{ 1/3 }}|{{ 2.0 * 3 }}|{{ 1e300 * 1e10 }}|{{ -0.0 }}", {}),
    ("{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ undefined_var }}|{{ n }}", {"n": None}),
    ("{{ [1, 'a', none, true, 1.0] }}|{{ {'a': 1, 'b': [2]} }}|{{ (1,) }}|{{ () }}|{{ (1, 2) }}", {}),
    ("{{ 'it\\'s' }}|{{ \"say \\\"hi\\\"\" }}|{{ ['it\\'s', 'a\"b', \"both'\\\"\"] }}", {}),
    ("{{ 'a' 'b' \"c\" }}", {}),
    ("{{ '\\x41\\u00e9\\U0001F600\\n\\t\\\\\\d\\101' }}", {}),
    ("{{ ['\\n', '\\x01', '\\x7f', 'é', '\\u2028'] }}", {}),
    ("{{ d }}|{{ l }}|{{ u }}|{{ [u] }}", DATA),
    ("{{ 1, 2 }}", {}),
    # ---- operators ---------------------------------------------------------------------
    ("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 'a' ~ 1 ~ none ~ undefined_var }}|{{ 'ab' * 3 }}|{{ [1] * 3 }}", {}),
    ("{{ 3 * 'x' }}|{{ [1,2] + [3] }}|{{ 'a' + 'b' }}|{{ 'x' * 0 }}|{{ 'x' * -2 }}|{{ true + true }}", {}),
    ("{{ 1 == 1.0 }}|{{ true == 1 }}|{{ 'a' < 'b' }}|{{ [1,2] < [1,3] }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}", {}),
    ("{{ 'a' in 'abc' }}|{{ 1 in [1,2] }}|{{ 'k' in {'k': 1} }}|{{ 'x' not in 'abc' }}|{{ not 1 }}", {}),
    ("{{ 1 and 0 }}|{{ 0 or 'x' }}|{{ none or [] }}|{{ 'a' and 'b' }}|{{ 0 and undefined_var.x }}", {}),
    ("{{ 'yes' if 1 else 'no' }}|{{ 'yes' if 0 }}|{{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("{{ -(-3) }}|{{ +3 }}|{{ -1.5 }}|{{ not none }}|{{ - 2 ** 2 }}|{{ 2 ** 3 ** 2 }}", {}),
    ("{{ 1 ~ 2 + 3 }}", {}),
    ("{{ 'a' ~ 'b' * 2 }}|{{ 10 - 2 - 3 }}|{{ 2 * 3 // 4 }}|{{ 1 ~ (2 + 3) }}", {}),
    ("{{ undefined_var == undefined_other }}|{{ undefined_var == none }}|{{ none == none }}|{{ [] == [] }}", {}),
    ("{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}|{{ (1, 2) == [1, 2] }}|{{ 'a' != 'a' }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 1 // 0 }}", {}),
    ("{{ 5 % 0 }}", {}),
    ("{{ undefined_x + 1 }}", {}),
    ("{{ undefined_x.attr }}", {}),
    ("{{ undefined_x['k'] }}", {}),
    ("{{ none + 1 }}", {}),
    ("{{ 1 < 'a' }}", {}),
    ("{{ undefined_x() }}", {}),
    ("{{ 'abc'() }}", {}),
    ("{{ -'a' }}", {}),
    # ---- attributes, items, slices -----------------------------------------------------
    ("{{ d.a }}|{{ d['b'] }}|{{ d.missing }}|{{ d.missing is defined }}|{{ d.nested.x[1].y }}|{{ d['nested']['x'][0] }}", DATA),
    ("{{ l[0] }}|{{ l[-1] }}|{{ l[10] }}|{{ l[10] is defined }}|{{ s[0] }}|{{ s[-1] }}|{{ l.0 }}|{{ s[1] }}", DATA),
    ("{{ l[1:] }}|{{ l[:-1] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ s[::-1] }}|{{ s[1:3] }}|{{ l[5:] }}|{{ l[-10:2] }}", DATA),
    ("{{ s[:] }}|{{ l[3:0:-1] }}|{{ l[-1:-4:-1] }}|{{ s[100:] }}|{{ (1,2,3)[1:] }}|{{ l[none:2] }}", DATA),
    ("{{ l[::0] }}", DATA),
    ("{{ n.attr }}|{{ n['k'] }}|{{ t.x }}", DATA),
    ("{{ messages[0].role }}|{{ messages[-1]['content'] }}|{{ messages|length }}", {"messages": MSGS}),
    # ---- filters -------------------------------------------------------------------------
    ("{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ s | length }}|{{ l | count }}|{{ d | length }}|{{ undefined_var | length }}", DATA),
    ("{{ 'hello World' | upper }}|{{ 'HeLLo' | lower }}|{{ 'hello wORLD it\\'s' | title }}|{{ 'hELLO' | capitalize }}", {}),
    ("{{ 'aaa' | replace('a', 'b') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'abc' | replace('', '-') }}", {}),
    ("{{ l | join(', ') }}|{{ l | join }}|{{ people | join('/', attribute='name') }}|{{ [1, none, 'x'] | join('-') }}", DATA),
    ("{{ undefined_var | default('dflt') }}|{{ none | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ 0 | d(5, boolean=true) }}", {}),
    ("{{ l | first }}|{{ l | last }}|{{ s | first }}|{{ d | first }}|{{ [] | first }}|{{ undefined_var | last }}", DATA),
    ("{{ d | tojson }}|{{ l | tojson(indent=2) }}|{{ u | tojson }}|{{ u | tojson(ensure_ascii=true) }}", DATA),
    ("{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ {'a': [1, 2.5, none, true]} | tojson(indent=1) }}", DATA),
    ("{{ {} | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ 'a\"b\\\\c\\n\\x01\\u2028' | tojson }}|{{ 1.0 | tojson }}|{{ 1e20 | tojson }}", {}),
    ("{{ d | tojson(indent='\\t') }}", {"d": {"a": [1]}}),
    ("{{ undefined_var | tojson }}", {}),
    ("{{ 42 | string }}|{{ none | string }}|{{ [1] | string }}|{{ 'ab' | list }}|{{ d | list }}|{{ undefined_var | list }}", DATA),
    ("{{ d | items | list }}|{{ d | dictsort }}|{{ d | dictsort(by='value', reverse=true) }}", {"d": {"b": 2, "a": 3, "C": 1}}),
    ("{{ words | sort }}|{{ words | sort(case_sensitive=true) }}|{{ words | sort(reverse=true) }}|{{ people | sort(attribute='age') | map(attribute='name') | list }}", DATA),
    ("{{ words | unique | list }}|{{ words | unique(case_sensitive=true) | list }}|{{ words | min }}|{{ words | max }}|{{ people | max(attribute='age') }}", DATA),
    ("{{ l | sum }}|{{ people | sum(attribute='age') }}|{{ [0.5, 1] | sum(start=10) }}|{{ [] | max }}", DATA),
    ("{{ people | map(attribute='name') | join(',') }}|{{ words | map('upper') | list }}|{{ people | map(attribute='zip', default='-') | list }}", DATA),
    ("{{ l | select('odd') | list }}|{{ l | reject('odd') | list }}|{{ [0, 1, '', 'a'] | select | list }}|{{ l | select('gt', 1) | list }}", DATA),
    ("{{ people | selectattr('age', 'equalto', 31) | map(attribute='name') | list }}|{{ people | rejectattr('age', '==', 31) | list }}", DATA),
    ("{{ messages | selectattr('role', 'eq', 'user') | list | length }}|{{ messages | map(attribute='role') | unique | list }}", {"messages": MSGS}),
    ("{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 2.675 | round(2) }}|{{ 2.1 | round(method='ceil') }}|{{ 2.9 | round(0, 'floor') }}|{{ 7 | round }}", {}),
    ("{{ '42' | int }}|{{ '4.7' | int }}|{{ 'x' | int }}|{{ 'x' | int(7) }}|{{ 3.9 | int }}|{{ '0x1A' | int(0, 16) }}|{{ ' 12 ' | int }}|{{ '1_000' | int }}", {}),
    ("{{ '2.5' | float }}|{{ 'nope' | float }}|{{ 3 | float }}|{{ -3 | abs }}|{{ -2.5 | abs }}", {}),
    ("{{ l | reverse | list }}|{{ s | reverse }}|{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(first=true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}", DATA),
    ("{{ l | batch(2) | list }}|{{ l | batch(2, 0) | list }}|{{ 'one two  three' | wordcount }}|{{ '<a href=\"x\">&</a>' | escape }}", DATA),
    ("{{ d | attr('a') }}|{{ 'x' | safe }}|{{ l | list | first }}", DATA),
    ("{{ l | nosuchfilter }}", DATA),
    ("{{ 'abc' | abs }}", {}),
    ("{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    ("{% filter trim | upper %}   padded   {% endfilter %}", {}),
    # ---- tests -------------------------------------------------------------------------
    ("{{ x is defined }}|{{ d is defined }}|{{ x is undefined }}|{{ n is none }}|{{ n is not none }}|{{ s is string }}|{{ 1 is string }}", DATA),
    ("{{ 1 is number }}|{{ 1.5 is number }}|{{ t is number }}|{{ 1 is integer }}|{{ t is integer }}|{{ 1.5 is float }}|{{ t is boolean }}|{{ 1 is boolean }}", DATA),
    ("{{ t is true }}|{{ t is false }}|{{ 1 is true }}|{{ d is mapping }}|{{ l is mapping }}|{{ l is iterable }}|{{ s is iterable }}|{{ 1 is iterable }}", DATA),
    ("{{ l is sequence }}|{{ d is sequence }}|{{ 1 is sequence }}|{{ range is callable }}|{{ s is callable }}|{{ x is iterable }}", DATA),
    ("{{ 3 is odd }}|{{ 3 is even }}|{{ 9 is divisibleby 3 }}|{{ 9 is divisibleby(2) }}|{{ 2 is eq 2 }}|{{ 2 is equalto(3) }}|{{ 2 is ne 3 }}", {}),
    ("{{ 2 is lt 3 }}|{{ 2 is gt(3) }}|{{ 2 is le 2 }}|{{ 2 is ge 3 }}|{{ 2 is in [1, 2] }}|{{ 'a' is in 'abc' }}|{{ n is sameas none }}|{{ t is sameas true }}", DATA),
    ("{{ 'abc' is lower }}|{{ 'aBc' is lower }}|{{ 'ABC' is upper }}|{{ '12' is upper }}|{{ 'x' is string and 1 is number }}", {}),
    ("{{ x is nosuchtest }}", {}),
    # ---- string / dict / list methods --------------------------------------------------
    ("{{ 'a,b,,c'.split(',') }}|{{ ' a  b \\n c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b c'.split(none, 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}", {}),
    ("{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'hi\\n\\n'.rstrip() }}|{{ 'abcba'.strip('ab') }}", {}),
    ("{{ 'hello'.startswith('he') }}|{{ 'hello'.startswith(('x', 'h')) }}|{{ 'hello'.endswith('lo') }}|{{ 'hello'.startswith('l', 2) }}|{{ 'hello'.endswith('l', 0, 4) }}", {}),
    ("{{ 'aaa'.replace('a', 'bb') }}|{{ 'aaa'.replace('a', '', 1) }}|{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.find('z') }}|{{ 'banana'.count('an') }}", {}),
    ("{{ 'hello'.upper() }}|{{ 'HeLLo'.lower() }}|{{ 'ab cd'.title() }}|{{ 'aB'.capitalize() }}|{{ '-'.join(['a', 'b']) }}|{{ ''.join('xyz') }}", {}),
    ("{{ '{} and {}'.format(1, 'two') }}|{{ '{1}{0}'.format('a', 'b') }}|{{ '{x}!'.format(x=3) }}|{{ '{{}}'.format() }}|{{ '{!r}'.format('q') }}", {}),
    ("{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'a\\nb\\n'.splitlines(true) }}|{{ '123'.isdigit() }}|{{ '12a'.isdigit() }}|{{ ' \\t'.isspace() }}|{{ ''.isspace() }}", {}),
    ("{{ s.split(' ')[1].upper() }}|{{ s.find('w') }}|{{ u.split(' ') }}", DATA),
    ("{{ d.items() | list }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 'dflt') }}", DATA),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"z": 1, "a": 2}}),
    ("{{ l.index(1) }}|{{ l.count(3) }}", DATA),
    ("{{ 'a'.nosuchmethod() }}", {}),
    ("{{ l.append(4) }}", DATA),
    ("{{ 'x'.split('') }}", {}),
    # ---- statements ----------------------------------------------------------------------
    ("{% set x = 5 %}{{ x }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}", {}),
    ("{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]{% set y | upper %}shout{% endset %}{{ y }}", {}),
    ("{% set ns = namespace(n=0, items=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("{% set ns = namespace(d) %}{{ ns.a }}{% set ns.a = 9 %}{{ ns.a }}{{ d.a }}", {"d": {"a": 1}}),
    ("{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% for i in range(3) %}{% if i == 0 %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}", {}),
    ("{% if true %}{% set z = 'leaks' %}{% endif %}{{ z }}", {}),
    ("{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in [1] %}{{ i }}{% else %}empty{% endfor %}", {}),
    ("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", DATA),
    ("{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}|{{ loop.cycle('odd', 'even') }};{% endfor %}", DATA),
    ("{% for x in l if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }};{% endfor %}", DATA),
    ("{% for x in l %}{% for y in 'ab' %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }};{% endfor %}", DATA),
    ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% for a, b in [[1, 2], (3, 4)] %}{{ a }}{{ b }}{% endfor %}|{% for c in 'hé' %}[{{ c }}]{% endfor %}|{% for k in d %}{{ k }}{% endfor %}", DATA),
    ("{% for m in messages %}{{ m.role }}:{{ m.content | length }}{{ ',' if not loop.last }}{% endfor %}", {"messages": MSGS}),
    ("{% for m in messages[::-1] %}{{ (messages | length - 1) - loop.index0 }}{% endfor %}", {"messages": MSGS}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }}|{{ greet('Bob', '?') }}|{{ greet(punct='.', name='Cy') }}|{{ greet() }}", {}),
    ("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}", {}),
    ("{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}{% set g = 'H' %}{{ m() }}", {}),
    ("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("{{ range(3) | list }}|{{ range(1, 7, 2) | list }}|{{ range(3, 0, -1) | list }}|{{ dict(a=1, b='x') }}|{{ namespace(a=1).a }}", {}),
    ("{{ raise_exception('Conversation roles must alternate') }}", {}),
    ("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok", {"messages": MSGS}),
    ("{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}", {"messages": MSGS}),
    ("{% set x = [1, 2] %}{% set x.y = 3 %}", {}),
    ("{% for a, b in [1, 2] %}{% endfor %}", {}),
    ("{% for x in 5 %}{% endfor %}", {}),
    ("{{ range(200000) | length }}", {}),
    # ---- precedence and odd syntax -----------------------------------------------------
    ("{{ {'a': 1}}}|{{ [1,2,3][1] }}|{{ 'a' if true else 'b' | upper }}|{{ (1) }}|{{ ('a' ~ 'b') | upper }}", {}),
    ("{{ - 1 | abs }}|{{ not true == false }}|{{ 1 in [1] == true }}|{{ 'x' ~ loop }}|{{ not not 0 }}", {}),
    ("{{ [1, 2,] }}|{{ {'a': 1,} }}|{{ f(1,) if false else 'ok' }}|{{ 'abc' | replace('b', 'B',) }}", {}),
    ("{%   if   true   %}x{%   endif   %}|{% if false %}a{% elif true %}b{% else %}c{% endif %}", {}),
    ("{{ x.y.z is defined }}", {}),
    ("{% for i in range(3) %}{{ loop.cycle() }}{% endfor %}", {}),
    ("{% if %}{% endif %}", {}),
    ("{% for %}{% endfor %}", {}),
    ("{{ }}", {}),
    ("{{ 1 + }}", {}),
    ("{% endif %}", {}),
    ("{% if true %}never closed", {}),
    ("{{ 'abc }}", {}),
    ("{# unclosed comment", {}),
    ("{% raw %}no end", {}),
    ("{% set %}", {}),
    ("{% macro m(a=1, b) %}{% endmacro %}", {}),
    ("{% break %}", {}),
    ("{{ x | }}", {}),
    ("{% if 1 %}{% else %}{% else %}{% endif %}", {}),
    ("{% for x in y %}{% endif %}", {}),
    ("{% unknowntag %}", {}),
    ("{{ a b }}", {}),
    ("{{ (1 }}", {}),
    ("{{ 1 ) }}", {}),
    ("{{ 'a' is }}", {}),
    ("{{ @ }}", {}),
    ("{% include 'other.html' %}", {}),
    ("{% macro m(a, b) %}{{ a }}{{ b }}{% endmacro %}{{ m(1, 2, 3) }}", {}),
    ("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}", {}),
    ("{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}{{ m(a=none) }}", {}),
    # ---- more whitespace ---------------------------------------------------------------
    ("{% for i in range(3) -%}\n  {{ i }}\n{%- endfor %}", {}),
    ("<ul>\n{% for i in range(2) %}\n  <li>{{ i }}</li>\n{% endfor %}\n</ul>\n", {}),
    ("{%- if true %}\n    {%- set x = 1 %}\n{%- endif %}\n{{ x }}", {}),
    ("ab  {% if true %}x{% endif %}", {}),
    ("   {% if true %}   \n   x\n   {% endif %}   \nend", {}),
    ("{% if true %}\n\n{% endif %}", {}),
    ("a\n\n  {%- if true %}b{% endif %}", {}),
    ("  {# c #}  x", {}),
    ("a {# c #}\nb", {}),
    ("{% raw -%}   x   {%- endraw %}", {}),
    ("{{- 'x' }}   \n   {{- 'y' }}", {}),
    ("{% if true %}{% if true %}\n  x\n  {% endif %}\n{% endif %}\n", {}),
    ("{% set x = 1 %}\n{% set y = 2 %}\n{{ x + y }}\n", {}),
    ("  \n  {% if true %}\n  a\n  {% endif %}\n", {}),
    ("\n{%- for m in messages -%}\n{{ m.role }}\n{% endfor -%}\n", {"messages": MSGS}),
    ("a\u00a0{%- if true %}b{% endif %}\u2003{%+ if true %}c{% endif %}", {}),
    ("{{ 'a' }}{# x #}\n{{ 'b' }}", {}),
    ("x{% if true %}\n{% endif %}\ny", {}),
    ("{% if true -%}\n{% endif %}|", {}),
    ("{%- macro m() -%}\n  body\n{%- endmacro -%}\n[{{ m() }}]", {}),
    ("{% set s = 'a\nb' %}{{ s | length }}", {}),
    # ---- HF-style chat template fragments ----------------------------------------------
    ("{% for message in messages %}{% if '</think>' in message.content %}{{ message.content.split('</think>')[-1].lstrip('\\n') }}{% else %}{{ message.content }}{% endif %}|{% endfor %}", {"messages": MSGS}),
    ("{%- for message in messages %}\n    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n", {"messages": MSGS, "add_generation_prompt": True}),
    ("{{ bos_token }}{% for m in messages %}{{ m.role | upper }}: {{ m.content }}\n{% endfor %}", {"messages": MSGS, "bos_token": "<s>"}),
    ("{% if tools %}T{% else %}noT{% endif %}|{{ tools is none }}|{{ documents is none }}", {}),
    ("{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}", {"tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]}),
    ("{%- set content = m.content if m.content is string else m.content | map(attribute='text') | join('') %}{{ content }}", {"m": {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}),
]


def render(source, context):
    ctx = {"messages": [], "add_generation_prompt": False, "tools": None, "documents": None}
    ctx.update(context)
    try:
        return {"expected": ENV.from_string(source).render(**ctx), "error": None}
    except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected error
        return {"expected": None, "error": f"{type(e).__name__}: {e}"}


def main():
    out = []
    for source, context in CASES:
        case = {"template": source, "context": context}
        case.update(render(source, context))
        out.append(case)
    json.dump({"generator": f"Python jinja2 {jinja2.__version__} (ImmutableSandboxedEnvironment, trim_blocks, "
                            "lstrip_blocks, loopcontrols, HF tojson/raise_exception)", "cases": out},
              sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
