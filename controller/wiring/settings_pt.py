"""What each setting does, in pt-BR, for the console's settings page (the model's own descriptions, in English,
are the README's). A test keeps the keys equal to the settings, so a new setting needs its line here."""

from __future__ import annotations

DESCRIPTIONS = {
    "ari_url": "Endereço base do servidor HTTP do Asterisk (sem /ari).",
    "ari_user": "Usuário ARI do ari.conf.",
    "ari_password": "Senha ARI do ari.conf (obrigatória para rodar).",
    "ari_app": "Nome da aplicação Stasis.",
    "ari_timeout_s": "Tempo limite de cada requisição REST ao ARI (s).",
    "audiosocket_bind": "host:porta onde o servidor AudioSocket escuta.",
    "console_bind": "host:porta de /healthz, /readyz, /metrics e do console (vazio: desligado). Mantenha em "
    "loopback ou numa rede de gerência: os endpoints além do console não pedem login.",
    "console_user": "Nome de usuário do console do operador.",
    "console_password": "Senha do console do operador (sem ela o console em /console fica desligado; no mínimo "
    "12 caracteres).",
    "console_session_secret": "Chave que assina as sessões do console (no mínimo 16 caracteres); sem ela, uma "
    "chave aleatória a cada início, e reiniciar desconecta todos.",
    "audiosocket_advertise": "host:porta que o Asterisk disca para o externalMedia (padrão: o endereço de escuta).",
    "media_format": "slin (8 kHz) ou slin16 (16 kHz).",
    "media_silence_s": "Quem ligou e o Asterisk ouve falando (TALK_DETECT) sem que o áudio chegue ao servidor "
    "AudioSocket por este tempo: a perna está quebrada e o visitante é transferido. 0: desligado.",
    "vad_engine": "Detector de voz: silero (robusto no barulho da rua) ou webrtc (o mais leve).",
    "vad_silero_threshold": "Probabilidade de fala do Silero que inicia a fala.",
    "vad_webrtc_mode": "Rigor do webrtcvad, de 0 (tolerante) a 3 (estrito).",
    "silence_ms": "Silêncio (tempo real) que encerra o turno de quem ligou, em ms.",
    "early_end_ms": "Silêncio após o qual o reconhecimento começa antes (0 = desligado), em ms.",
    "answer_silence_ms": "Silêncio que encerra um turno cujas palavras já respondem à pergunta (sim ou não, um "
    "apartamento do prédio), em ms (0 = desligado: o silêncio de sempre).",
    "unfinished_silence_ms": "Silêncio que encerra um turno que para no meio da frase ('vim visitar a...'), em ms "
    "(0 = desligado: o silêncio de sempre).",
    "hesitant_margin_ms": "Quem já fez neste turno uma pausa maior que silence_ms e continuou é esperado por essa "
    "pausa mais isto na próxima (até unfinished_silence_ms; uma resposta completa ainda encerra após "
    "answer_silence_ms), em ms (0 = desligado).",
    "pre_roll_ms": "Áudio guardado antes do início da fala, para não cortar a primeira sílaba, em ms.",
    "min_speech_ms": "Voz necessária para começar um turno; ruídos mais curtos são ignorados, em ms.",
    "max_utterance_ms": "Fala mais longa; o turno é cortado ali, em ms.",
    "barge_in": "Deixa quem ligou interromper as mensagens falando.",
    "playout_idle_silence": "Envia quadros de silêncio entre as mensagens (mantém exato o tempo do Asterisk).",
    "barge_in_min_ms": "Voz necessária para interromper uma mensagem (proteção contra eco), em ms.",
    "directory": "Arquivo de moradores (JSON).",
    "sites": "Arquivo de sites (TOML) para vários portões e condomínios: diretório, saudação, voz, "
    "portaria e abertura de cada portão (docs/sites.md). Vazio: um só site, com estas configurações.",
    "greeting": "Primeiras palavras que o visitante ouve.",
    "redis_url": "URL do Redis para o estado das conversas; sem ela, fica na memória.",
    "state_ttl_s": "Por quanto tempo o estado de uma conversa é guardado após a última mudança (s).",
    "max_turns_without_progress": "Turnos seguidos do visitante sem avanço antes de transferir para uma pessoa.",
    "reprompt_after_s": "Silêncio do visitante após uma pergunta antes de perguntar de novo (s).",
    "dtmf_gap_s": "Pausa após o último dígito do teclado que encerra o número do apartamento (s).",
    "ring_timeout_s": "Por quanto tempo o telefone do morador toca (s).",
    "call_attempts": "Chamadas a cada telefone do morador antes do próximo do apartamento.",
    "reassure_every_s": "Enquanto o morador é chamado, o visitante ouve algo com esta frequência (s).",
    "caller_id": "Identificação que os moradores veem nas nossas chamadas.",
    "concierge_endpoint": "Portaria para onde os visitantes são transferidos, por exemplo PJSIP/concierge "
    "(vazio: nenhuma; a chamada termina com educação).",
    "max_calls": "Conversas ao mesmo tempo; o interfone dos próximos visitantes toca até vagar um lugar (0: 2 por "
    "núcleo de CPU com o Whisper, o limite medido; sem limite com o reconhecimento do Azure).",
    "queue_wait_s": "Maior espera tocando para um visitante na fila; depois, a portaria, ou acima do limite se não "
    "houver portaria (s).",
    "endpoint_template": "Discagem para números do arquivo de moradores sem tecnologia: 101 ou sip:101@host vira "
    "isto com {number} = 101; PJSIP/101 ou Local/... ficam como estão.",
    "gate_name": "Nome deste portão no registro de decisões.",
    "audit_db": "Arquivo SQLite do registro de decisões.",
    "database_url": "PostgreSQL do registro de decisões e das autorizações prévias, compartilhado por várias "
    "instâncias (postgresql://usuario:senha@host:5432/banco); vazio: SQLite em PORTARIA_AUDIT_DB.",
    "resource_journal": "O que esta instância criou no Asterisk e ainda não removeu; após uma queda, o próximo "
    "início remove e transfere os visitantes que esperavam. Um arquivo por instância.",
    "audit_retention_days": "Decisões mais antigas que isto são apagadas (no início e diariamente; LGPD).",
    "gate_opener": "Como o portão abre: dtmf (dígitos na chamada do interfone), http (a API do interfone) ou "
    "none (nenhum).",
    "gate_dtmf": "Dígitos que abrem o portão na chamada do interfone.",
    "gate_http_preset": "Requisição do abridor HTTP: hikvision, intelbras, dahua, 2n ou webhook.",
    "gate_http_url": "Endereço base do interfone (http://192.168.0.50) ou a URL completa do webhook.",
    "gate_http_auth": "Autenticação do abridor HTTP (auto: a do modelo, digest para interfones).",
    "gate_http_user": "Usuário do abridor HTTP.",
    "gate_http_password": "Senha do abridor HTTP.",
    "gate_http_token": "Token (Bearer) do webhook.",
    "gate_door": "Número da porta / relé / canal que o abridor aciona.",
    "gate_timeout_s": "Tempo limite de uma tentativa de abrir o portão (s).",
    "delivery_policy": "Entrega sem ninguém para atender: portaria (passa o entregador para a portaria), zelador "
    "(deixar com o zelador), voltar (voltar mais tarde) ou armario (armário de entregas).",
    "notify_url": "Webhook que recebe um aviso em JSON quando chega uma entrega e ninguém atende (vazio: nenhum).",
    "notify_token": "Token (Bearer) enviado ao PORTARIA_NOTIFY_URL.",
    "understanding": "Como as falas do visitante são lidas: rules (regras, offline, determinístico) ou llm "
    "(CrewAI, precisa do extra llm; as regras assumem quando ele demora ou falha).",
    "llm_model": "Modelo do CrewAI, provedor/modelo: openai/gpt-4o-mini, azure/<deployment>, ollama/llama3.1...",
    "llm_base_url": "Endpoint compatível com OpenAI para o modelo (ex.: http://127.0.0.1:11434/v1); sem ele, o "
    "padrão do provedor.",
    "llm_api_key": "Chave de API do provedor do modelo.",
    "llm_timeout_s": "Espera máxima pela leitura de uma fala pelo modelo (s).",
    "events_file": "Eventos de cada chamada, um objeto JSON por linha (os gráficos vêm dele).",
    "log_level": "Nível de log: DEBUG, INFO, WARNING ou ERROR.",
    "stt_engine": "Reconhecimento de fala: whisper (offline) ou azure.",
    "tts_engine": "Síntese de voz: kokoro (offline, Kokoro-82M), espeak (offline, instantâneo, robótico) ou azure. "
    "O espeak fica atrás do kokoro e do azure como voz reserva.",
    "whisper_model": "Pasta do modelo Whisper do CTranslate2 (modelos maiores reconhecem melhor o português).",
    "whisper_compute_type": "Tipo de cálculo do CTranslate2 (int8, int8_float32, float32).",
    "whisper_threads": "Threads de CPU por reconhecimento do Whisper.",
    "whisper_beam_size": "Largura do feixe do Whisper (1 = guloso, mais rápido).",
    "whisper_short_input": "Codifica só a fala (+1 s) em vez da janela de 30 s do Whisper: ~3x mais rápido, "
    "menos preciso; para máquinas lentas ou modelos maiores.",
    "whisper_window_s": "Segundos de áudio que o codificador do Whisper vê quando a fala cabe neles com um "
    "segundo de folga (30 = a janela do próprio Whisper). 15 reduz o tempo de reconhecimento à metade e ouve "
    "pior os nomes.",
    "whisper_directory_window_s": "O mesmo para as falas do visitante que o cadastro confere (o pedido, para quem, "
    "qual apartamento): 15 ouve os nomes e apartamentos do prédio tão bem quanto 30, na metade do tempo. "
    "Respostas sim/não e a ligação do morador usam sempre PORTARIA_WHISPER_WINDOW_S.",
    "whisper_piece_s": "Nessas falas, guarda o que foi reconhecido numa pausa de quem fala quando a pessoa "
    "continua, se cobriu esses segundos, e reconhece no fim só o resto (pelo menos 0,5 s a mais); 0 = reconhece "
    "a fala inteira.",
    "directory_hints": "Diz ao Whisper os nomes e apartamentos do prédio quando o visitante responde quem ou qual "
    "apartamento, e deixa o cadastro escolher entre as 5 melhores hipóteses.",
    "speech_workers": "Threads para o trabalho de fala que bloqueia (Whisper, chamadas do SDK do Azure).",
    "espeak_voice": "Voz do espeak-ng (ex.: pt-br, pt-br+m3).",
    "espeak_speed": "Velocidade do espeak-ng em palavras por minuto.",
    "kokoro_model": "Pasta do modelo Kokoro-82M.",
    "kokoro_voice": "Voz do Kokoro: jm_kumo (masculina), jf_alpha, jf_gongitsune, jf_nezumi ou jf_tebukuro "
    "(femininas).",
    "kokoro_speed": "Velocidade da fala do Kokoro (1.0 = como treinado).",
    "kokoro_threads": "Threads do onnxruntime por inferência do Kokoro (as sínteses se revezam).",
    "tts_cache_dir": "Onde as frases sintetizadas pelo Kokoro ficam guardadas entre reinícios; vazio ou 'off' "
    "as guarda só na memória.",
    "tts_cache_max_mb": "Tamanho máximo de tts_cache_dir em MB; as frases usadas há mais tempo saem primeiro.",
    "azure_speech_key": "Chave do recurso Azure Speech (necessária quando um motor é azure).",
    "azure_speech_region": "Região do recurso Azure Speech, ex.: brazilsouth.",
    "azure_speech_language": "Idioma do reconhecimento no Azure.",
    "azure_speech_voice": "Voz neural do Azure para a síntese.",
    "stt_timeout_s": "Espera máxima por um reconhecimento, nova tentativa incluída (s).",
    "tts_timeout_s": "Espera máxima pelo primeiro áudio sintetizado, e entre os trechos seguintes (s).",
    "speech_max_failures": "Falhas de fala seguidas numa perna antes de a chamada seguir o caminho reserva.",
}
