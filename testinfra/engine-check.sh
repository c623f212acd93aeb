#!/usr/bin/env bash
# Checks a running search engine against Sunbird's analysis settings, and
# compares engines: the same analyzers must give the same tokens everywhere.
#
#   testinfra/engine-check.sh [URL]              check one engine (default: the URL of
#                                                `stack.sh env` for STACK_ENGINE); prints the tokens
#   testinfra/engine-check.sh --compare [E[=URL]...]
#                                                check each engine (default: all four, at the URLs
#                                                `stack.sh env` gives), then diff their tokens
#
# What one check does (docs: /work/shared/spec/SUNBIRD-INDEXES.md):
#  - creates two indexes with Sunbird's analysis settings: "user" (the userv3/orgv3
#    mynGram filter, ngram min_gram 3 max_gram 10 with token_chars) and "location"
#    (min_gram 1 max_gram 20), each with cs_index_analyzer, cs_search_analyzer (with the
#    "standard" token filter on 6.x only: it is gone from 7.0) and keylower; on 7+ with
#    index.max_ngram_diff 7 / 19, which 7.0 made necessary. Mappings are typed
#    ({"mappings":{"_doc":{...}}}) on 6.x, typeless elsewhere, with Sunbird's raw sub-fields;
#  - runs _analyze with every analyzer on sample strings and prints every token as
#    "index analyzer sample position start-end type token";
#  - indexes one document and runs an n-gram match and a term query on a raw field;
#  - deletes its indexes again.
# Needs curl and jq. Exit status 0 iff every step worked (and, with --compare, all
# engines gave identical output).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK_DIR=${STACK_DIR:-$(cd "$HERE/.." && pwd)/.stack}
ALL_ENGINES=(opensearch-2.19 elasticsearch-6.8 elasticsearch-7.17 elasticsearch-8)
PREFIX=indexsync_engine_check

# Sample strings: ASCII and non-ASCII names (Latin with diacritics, Devanagari,
# Kannada), an email, a state, a uuid, a channel-like code.
SAMPLES=(
  "Ramesh Kumar"
  "Amélie Dœuf-Łukasz"
  "राम कुमार"
  "ಕನ್ನಡ ಶಾಲೆ"
  "Ramesh.Kumar@Example.org"
  "Andhra Pradesh"
  "0125a8f7-4c3b-4d1e-9f2a-6b7c8d9e0f11"
  "SUNBIRD_ORG_01"
)

die() { printf 'engine-check: error: %s\n' "$*" >&2; exit 1; }
command -v jq >/dev/null 2>&1 || die "needs jq (e.g. apt-get install -y jq)"
command -v curl >/dev/null 2>&1 || die "needs curl"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-2}"
}

# req METHOD URL [BODY]: prints the response body; fails (with the body on
# stderr) on a status >= 300.
req() {
  local method=$1 url=$2 body=${3:-} out code
  local args=(-sS -m 60 -X "$method" -o /dev/stdout -w '\n%{http_code}')
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  out=$(curl "${args[@]}" "$url") || { echo "$method $url: curl failed" >&2; return 1; }
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 300)); then
    printf '%s %s -> HTTP %s: %s\n' "$method" "$url" "$code" "$out" >&2
    return 1
  fi
  printf '%s' "$out"
}

# settings_body MAJOR MIN_GRAM MAX_GRAM: Sunbird's analysis block for one
# engine generation.
settings_body() {
  local major=$1 min=$2 max=$3
  jq -n --argjson major "$major" --argjson min "$min" --argjson max "$max" '
    {
      index: ({number_of_shards: 1, number_of_replicas: 0}
              + (if $major >= 7 then {max_ngram_diff: ($max - $min)} else {} end)),
      analysis: {
        filter: {
          mynGram: {type: "ngram", min_gram: $min, max_gram: $max,
                    token_chars: ["letter", "digit", "whitespace", "punctuation", "symbol"]}
        },
        analyzer: {
          cs_index_analyzer: {type: "custom", tokenizer: "standard", filter: ["lowercase", "mynGram"]},
          keylower: {type: "custom", tokenizer: "keyword", filter: "lowercase"},
          cs_search_analyzer: {type: "custom", tokenizer: "standard",
                               filter: (if $major >= 7 then ["lowercase"] else ["lowercase", "standard"] end)}
        }
      }
    }'
}

# mappings_body KIND: a few fields of Sunbird's userv3 / location mappings.
mappings_body() {
  case $1 in
    user)
      jq -n '{dynamic: false, properties: {
        firstName: {type: "text", analyzer: "cs_index_analyzer", search_analyzer: "cs_search_analyzer",
                    fields: {raw: {type: "text", analyzer: "keylower"}}},
        email: {type: "keyword", fields: {raw: {type: "text", analyzer: "keylower"}}},
        channel: {type: "text", analyzer: "cs_search_analyzer", search_analyzer: "cs_search_analyzer",
                  fields: {raw: {type: "text", analyzer: "keylower"}}},
        rootOrgId: {type: "keyword", fields: {raw: {type: "keyword"}}},
        status: {type: "long", fields: {raw: {type: "long"}}}
      }}' ;;
    location)
      jq -n '{dynamic: false, properties: {
        all_fields: {type: "text", analyzer: "cs_index_analyzer", search_analyzer: "cs_search_analyzer",
                     fields: {raw: {type: "text", analyzer: "keylower"}}},
        name: {type: "text", analyzer: "cs_index_analyzer", search_analyzer: "cs_search_analyzer",
               fielddata: true, copy_to: "all_fields",
               fields: {raw: {type: "text", analyzer: "keylower", fielddata: true}}},
        type: {type: "text", analyzer: "cs_index_analyzer", search_analyzer: "cs_search_analyzer",
               fielddata: true, copy_to: "all_fields",
               fields: {raw: {type: "text", analyzer: "keylower", fielddata: true}}}
      }}' ;;
  esac
}

# check_one URL: prints "# ..." header lines, then the comparable output.
check_one() {
  local url=${1%/} info number distribution major typed kind min max idx body doc i a tokens total
  info=$(req GET "$url/") || die "GET $url/ failed: is the engine running?"
  number=$(jq -r '.version.number // empty' <<<"$info")
  distribution=$(jq -r '.version.distribution // "elasticsearch"' <<<"$info")
  [[ -n $number ]] || die "GET $url/ has no version.number: $info"
  major=${number%%.*}
  [[ $distribution == opensearch ]] && major=7   # OpenSearch speaks the 7.10 API
  typed=false
  ((major < 7)) && typed=true
  printf '# engine %s %s at %s (typed mappings: %s)\n' "$distribution" "$number" "$url" "$typed"

  for kind in user location; do
    case $kind in user) min=3 max=10 ;; location) min=1 max=20 ;; esac
    idx=${PREFIX}_$kind
    curl -sS -m 60 -o /dev/null -X DELETE "$url/$idx" || true
    if [[ $typed == true ]]; then
      body=$(jq -n --argjson s "$(settings_body "$major" "$min" "$max")" \
                   --argjson m "$(mappings_body "$kind")" '{settings: $s, mappings: {_doc: $m}}')
    else
      body=$(jq -n --argjson s "$(settings_body "$major" "$min" "$max")" \
                   --argjson m "$(mappings_body "$kind")" '{settings: $s, mappings: $m}')
    fi
    req PUT "$url/$idx" "$body" >/dev/null || die "creating $idx failed (body: $body)"
    printf 'create %s (mynGram %s..%s): ok\n' "$kind" "$min" "$max"
    for a in cs_index_analyzer cs_search_analyzer keylower; do
      for i in "${!SAMPLES[@]}"; do
        tokens=$(req POST "$url/$idx/_analyze" "$(jq -n --arg a "$a" --arg t "${SAMPLES[$i]}" '{analyzer: $a, text: $t}')") ||
          die "_analyze $a on $idx failed"
        jq -r --arg k "$kind" --arg a "$a" --arg s "s$i" \
          '.tokens[] | [$k, $a, $s, "pos=\(.position)", "\(.start_offset)-\(.end_offset)", .type, .token] | join(" ")' <<<"$tokens"
      done
    done
  done

  # 7.0 made max_gram - min_gram > index.max_ngram_diff (default 1) an error;
  # the analysis plugin of the minimal 7.17/8.x distributions must refuse it too.
  if ((major >= 7)); then
    idx=${PREFIX}_nodiff
    body=$(settings_body "$major" 1 20 | jq '{settings: (.index |= del(.max_ngram_diff))}')
    if req PUT "$url/$idx" "$body" >/dev/null 2>&1; then
      req DELETE "$url/$idx" >/dev/null || true
      die "an ngram filter 1..20 without index.max_ngram_diff was accepted (7.0+ refuses it)"
    fi
    printf '# ngram 1..20 without index.max_ngram_diff: refused, as on a full distribution\n'
  fi

  # One document, then an n-gram match and raw-field term queries (what Sunbird's
  # search layer sends: term on <field>.raw with a lower-cased value).
  idx=${PREFIX}_user
  doc='{"firstName":"Ramesh Kumar","email":"Ramesh.Kumar@Example.org","channel":"Andhra Pradesh","rootOrgId":"0125a8f7","status":1}'
  req PUT "$url/$idx/_doc/u1?refresh=true" "$doc" >/dev/null || die "indexing a document failed"
  local q name qt field value
  for name in "match firstName mesh" "term firstName.raw ramesh kumar" "term email.raw ramesh.kumar@example.org" \
              "term channel.raw andhra pradesh" "term status.raw 1" "match firstName zzz"; do
    read -r qt field value <<<"$name"
    case $qt in
      match) q=$(jq -n --arg f "$field" --arg v "$value" '{query: {match: {($f): $v}}}') ;;
      term) q=$(jq -n --arg f "$field" --arg v "$value" '{query: {term: {($f): $v}}}') ;;
    esac
    total=$(req POST "$url/$idx/_search" "$q" | jq -r '.hits.total | if type == "object" then .value else . end') ||
      die "search $name failed"
    printf 'search %s: %s hit(s)\n' "$name" "$total"
  done

  for kind in user location; do
    req DELETE "$url/${PREFIX}_$kind" >/dev/null || die "deleting ${PREFIX}_$kind failed"
  done
}

engine_url() { # ENGINE -> URL of that engine per stack.sh env
  STACK_ENGINE=$1 "$HERE/stack.sh" env | sed -n 's/^export INDEXSYNC_TEST_SEARCH_URL=//p'
}

compare() {
  local specs=("$@") spec e url out dir first="" rc=0 n
  ((${#specs[@]})) || specs=("${ALL_ENGINES[@]}")
  dir=$STACK_DIR/engine-check
  mkdir -p "$dir"
  for spec in "${specs[@]}"; do
    e=${spec%%=*}
    if [[ $spec == *=* ]]; then url=${spec#*=}; else url=$(engine_url "$e"); fi
    out=$dir/$e.txt
    if ! (check_one "$url") >"$out"; then
      echo "$e ($url): check FAILED (see above)"
      rc=1
      continue
    fi
    n=$(grep -vc '^#' "$out" || true)
    printf '%-20s %s  %s lines  (%s)\n' "$e" "$(head -1 "$out" | cut -d' ' -f2-4)" "$n" "$out"
    if [[ -z $first ]]; then
      first=$e
    elif diff <(grep -v '^#' "$dir/$first.txt") <(grep -v '^#' "$out") >"$dir/$e.diff"; then
      printf '%-20s identical to %s\n' "" "$first"
    else
      printf '%-20s DIFFERS from %s:\n' "" "$first"
      sed 's/^/    /' "$dir/$e.diff" | head -40
      rc=1
    fi
  done
  return $rc
}

case ${1:-} in
  -h|--help) usage 0 ;;
  --compare) shift; compare "$@" ;;
  "") check_one "$(engine_url "${STACK_ENGINE:-opensearch-2.19}")" ;;
  -*) usage ;;
  *) check_one "$1" ;;
esac
