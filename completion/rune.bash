# bash completion for rune. `cmake --install` puts it in
# share/bash-completion/completions/rune, where bash-completion loads it.
#
# Nothing here is a second list to keep: commands come from `rune help`,
# flags from `rune COMMAND --help`, runbook names from `rune list`, step
# types and target kinds from `rune steps`, `rune new` kinds from its help.

_rune_commands() {
    "$1" help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

_rune_flags() {
    "$1" "$2" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u
}

_rune_runbooks() {
    "$1" list 2>/dev/null | awk 'NR > 1 && NF { print $1 }'
}

_rune_step_types() {
    "$1" steps 2>/dev/null | awk '/^target kinds:/ { sub(/^target kinds: /, ""); sub(/ \(.*/, ""); gsub(/,/, ""); print; next } NF { print $1 }'
}

_rune_report_templates() {
    "$1" report --template list 2>/dev/null | awk 'NF == 0 { exit } { print $1 }'
}

_rune_new_kinds() {
    "$1" new --help 2>/dev/null | awk '/KIND \(default/ { on = 1; next } on && NF { print $1 }'
}

_rune() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local rune=${COMP_WORDS[0]} cmd=${COMP_WORDS[1]}
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$(_rune_commands "$rune")" -- "$cur"))
        return
    fi
    case $prev in
        --log|--junit|-o|--output|--reports|--file)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --template|-t)
            COMPREPLY=($(compgen -W "list $(_rune_report_templates "$rune")" -- "$cur") $(compgen -f -- "$cur")); return ;;
        --from)
            COMPREPLY=($(compgen -W "$(_rune_new_kinds "$rune")" -- "$cur")); return ;;
        --format|-f)
            case $cmd in
                validate) COMPREPLY=($(compgen -W "text json sarif" -- "$cur")) ;;
                graph) COMPREPLY=($(compgen -W "dot mermaid" -- "$cur")) ;;
                report) COMPREPLY=($(compgen -W "md html json pdf" -- "$cur")) ;;
            esac
            return ;;
        --progress)
            COMPREPLY=($(compgen -W "auto bar plain json none" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_rune_flags "$rune" "$cmd")" -- "$cur"))
        return
    fi
    case $cmd in
        run|plan|show|graph|validate)
            COMPREPLY=($(compgen -W "$(_rune_runbooks "$rune")" -- "$cur") $(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur")) ;;
        steps)
            COMPREPLY=($(compgen -W "$(_rune_step_types "$rune")" -- "$cur")) ;;
        test)
            COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur")) ;;
        log)
            [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "show verify export head note locks push" -- "$cur")) ;;
    esac
}

complete -F _rune rune
