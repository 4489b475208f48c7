/*
   PHP webshells uploaded to portals: code that hands request input to an interpreter or a shell.
   Matches the upload as it travels (multipart part, request body) and the file when extracted.
*/

rule CityShield_Webshell_PHP_Eval_Request
{
    meta:
        description = "PHP code that evaluates request input (China Chopper style one-liner)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003"
    strings:
        $php = "<?" ascii
        $sink = /\b(eval|assert|create_function|call_user_func(_array)?|array_map|usort|preg_replace)\s*\(\s*(@?\s*(base64_decode|str_rot13|gzinflate|gzuncompress|stripslashes|hex2bin|urldecode)\s*\(\s*)*@?\s*\$_(POST|GET|REQUEST|COOKIE|SERVER\s*\[\s*['"]HTTP_)/ nocase
        $varvar = /\$\{?\s*['"]?_(POST|GET|REQUEST|COOKIE)['"]?\s*\}?\s*\[[^\]]{1,40}\]\s*\(\s*\$_(POST|GET|REQUEST|COOKIE)/ nocase
    condition:
        $php and ($sink or $varvar)
}

rule CityShield_Webshell_PHP_Command_Request
{
    meta:
        description = "PHP code that runs a shell command taken from the request"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "webshell"
        mitre_attack = "T1505.003 T1059.004"
    strings:
        $php = "<?" ascii
        $exec = /\b(system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*(@?\s*(base64_decode|urldecode|stripslashes)\s*\(\s*)*@?\s*\$_(POST|GET|REQUEST|COOKIE)/ nocase
        $backtick = /`\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/ nocase
    condition:
        $php and ($exec or $backtick)
}

rule CityShield_Webshell_PHP_Obfuscated_Loader
{
    meta:
        description = "PHP code that decodes and evaluates a hidden payload (packed webshell)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "webshell"
        mitre_attack = "T1505.003 T1027"
    strings:
        $php = "<?" ascii
        $chain = /\beval\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev)\s*\(/ nocase
        $preg_e = /preg_replace\s*\(\s*['"]\/[^'"]{0,40}\/[a-z]*e[a-z]*['"]/ nocase
        $long_b64 = /base64_decode\s*\(\s*['"][A-Za-z0-9+\/=]{400}/
    condition:
        $php and ($chain or $preg_e or ($long_b64 and #php < 5))
}
