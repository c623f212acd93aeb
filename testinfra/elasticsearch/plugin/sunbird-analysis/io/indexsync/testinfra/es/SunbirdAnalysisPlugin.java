package io.indexsync.testinfra.es;

import java.util.Map;

import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.core.KeywordTokenizer;
import org.apache.lucene.analysis.ngram.NGramTokenFilter;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * Test-only plugin for the minimal Elasticsearch 7.17 / 8.x distributions
 * (integ-test-zip), which ship without the analysis-common module. It registers
 * the two analysis components that Sunbird's index definitions (and
 * indexsync's own) use and that the server alone lacks:
 *
 * <ul>
 *   <li>token filter {@code ngram}: Lucene's NGramTokenFilter with the settings
 *       min_gram (default 1), max_gram (default 2) and preserve_original
 *       (default false); max_gram - min_gram may not exceed the index setting
 *       index.max_ngram_diff, as on a full distribution of 7.0 and later.
 *       Other keys (Sunbird sets token_chars, a tokenizer option, on the filter)
 *       are ignored, as a full distribution ignores them.</li>
 *   <li>tokenizer {@code keyword}: Lucene's KeywordTokenizer (setting
 *       buffer_size, default 256): the whole input is one token.</li>
 * </ul>
 *
 * The standard tokenizer and the lowercase token filter are part of the server
 * itself. Compiled by testinfra/stack.sh against the distribution's lib/ jars,
 * one build per server version.
 */
public final class SunbirdAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of("ngram", SunbirdAnalysisPlugin::ngramFilter);
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("keyword", SunbirdAnalysisPlugin::keywordTokenizer);
    }

    private static TokenFilterFactory ngramFilter(IndexSettings index, Environment env, String name, Settings settings) {
        final int minGram = settings.getAsInt("min_gram", 1);
        final int maxGram = settings.getAsInt("max_gram", 2);
        final boolean preserveOriginal = settings.getAsBoolean("preserve_original", false);
        if (minGram < 1) {
            throw new IllegalArgumentException("ngram filter [" + name + "]: min_gram must be at least 1, not " + minGram);
        }
        if (maxGram < minGram) {
            throw new IllegalArgumentException("ngram filter [" + name + "]: max_gram (" + maxGram
                + ") must not be smaller than min_gram (" + minGram + ")");
        }
        final int allowed = index.getMaxNgramDiff();
        if (maxGram - minGram > allowed) {
            throw new IllegalArgumentException("ngram filter [" + name + "]: max_gram - min_gram is " + (maxGram - minGram)
                + " but the index allows at most " + allowed + "; raise the index setting [index.max_ngram_diff]");
        }
        return new TokenFilterFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public TokenStream create(TokenStream input) {
                return new NGramTokenFilter(input, minGram, maxGram, preserveOriginal);
            }
        };
    }

    private static TokenizerFactory keywordTokenizer(IndexSettings index, Environment env, String name, Settings settings) {
        final int bufferSize = settings.getAsInt("buffer_size", KeywordTokenizer.DEFAULT_BUFFER_SIZE);
        if (bufferSize <= 0) {
            throw new IllegalArgumentException("keyword tokenizer [" + name + "]: buffer_size must be positive, not " + bufferSize);
        }
        return TokenizerFactory.newFactory(name, () -> new KeywordTokenizer(bufferSize));
    }
}
